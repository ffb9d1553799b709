// Fails early, with one line, on a Node older than the package needs (the test suite's tools need
// Node 22: on Node 20 the conformance suite dies in a 20 KB dump of minified code).
// NODE_VERSION_UNDER_TEST judges another version (for the script's own test).
const NEEDED = 22;
const version = process.env.NODE_VERSION_UNDER_TEST || process.versions.node;
const major = Number(version.split('.')[0]);
if (!(major >= NEEDED)) {
  console.error(
    `express-mcp-affinity needs Node ${NEEDED} or newer (this is v${version}): install it (nvm install ${NEEDED}, or npm i node@${NEEDED}) and run again.`,
  );
  process.exit(1);
}

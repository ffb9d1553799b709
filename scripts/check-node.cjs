// Fails early, with one line, on a Node older than the package needs: 22.12, where `require()` of
// an ES module (jose, for JWTs) works without a flag, as the CommonJS build needs. On Node 20 the
// conformance suite would otherwise die in a 20 KB dump of minified code.
// NODE_VERSION_UNDER_TEST judges another version (for the script's own test).
const NEEDED = [22, 12];
const version = process.env.NODE_VERSION_UNDER_TEST || process.versions.node;
const [major, minor] = version.split('.').map(Number);
if (!(major > NEEDED[0] || (major === NEEDED[0] && minor >= NEEDED[1]))) {
  console.error(
    `express-mcp-affinity needs Node ${NEEDED.join('.')} or newer (this is v${version}): install it (nvm install 22, or npm i node@22) and run again.`,
  );
  process.exit(1);
}

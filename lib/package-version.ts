/** The package's version, as announced to peers and upstream servers. */
export const PACKAGE_VERSION = '0.1.0';

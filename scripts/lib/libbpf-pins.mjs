// Pinned Debian packages for the libbpf that ships with kdelay: its source
// (scripts/build-libbpf.mjs) and the Debian 11 userspace it is built for and
// tested on (test/integration/libbpf-locate.test.ts runs kdelay in one).
/**
 * trixie's libbpf (Debian 13, a stable release, so the version stays on the
 * mirror): new enough for every call in host/libbpf/ffi.ts. The hashes are
 * those of the signed Sources index when this was pinned.
 */
export const LIBBPF = {
  version: '1.5.0-3',
  upstreamVersion: '1.5.0',
  files: {
    'libbpf_1.5.0-3.dsc': 'b8fdd3a9c58a13d13e9da0927062f1237303db3a804207e423ec4335119d3245',
    'libbpf_1.5.0.orig.tar.gz': '53492aff6dd47e4da04ef5e672d753b9743848bdb38e9d90eafbe190b7983c44',
    'libbpf_1.5.0-3.debian.tar.xz': 'b526c99fc75f632540306a958576fe3923890cba95d4999efc458784802da460',
  },
};

/**
 * The bullseye sysroot: glibc 2.31 headers and stubs (so no symbol newer
 * than GLIBC_2.31 can be referenced), kernel 5.10 UAPI headers, libelf and
 * zlib to link against, and GCC 10's crtbeginS.o/libgcc.a, which clang's
 * driver expects for -shared. Versions from bullseye's final point release
 * (the suite no longer changes); the -security copies would disappear.
 */
export const SYSROOT_PACKAGES = {
  libc6: '2.31-13+deb11u11',
  'libc6-dev': '2.31-13+deb11u11',
  'linux-libc-dev': '5.10.223-1',
  'libgcc-10-dev': '10.2.1-6',
  'libgcc-s1': '10.2.1-6',
  libelf1: '0.183-1',
  'libelf-dev': '0.183-1',
  zlib1g: '1:1.2.11.dfsg-2+deb11u2',
  'zlib1g-dev': '1:1.2.11.dfsg-2+deb11u2',
};

/**
 * A Debian 11 userspace as kdelay meets it at run time (no -dev packages):
 * glibc 2.31, libstdc++ for Node and koffi, libelf and zlib for the shipped
 * copy, and libbpf0 0.3, the only libbpf Debian 11 has.
 */
export const BULLSEYE_RUNTIME = {
  libc6: SYSROOT_PACKAGES['libc6'],
  'libgcc-s1': SYSROOT_PACKAGES['libgcc-s1'],
  'libstdc++6': '10.2.1-6',
  libelf1: SYSROOT_PACKAGES['libelf1'],
  zlib1g: SYSROOT_PACKAGES['zlib1g'],
  libbpf0: '1:0.3-2',
};

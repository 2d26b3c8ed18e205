/**
 * The version of the `kdelay` import module (runtime/kdelay-imports.ts) a
 * bundle is built against. Part of the probe contract: a manifest names it,
 * the catalog refuses a bundle that names another, and the runtime provides
 * exactly this one.
 */
export const KDELAY_ABI_VERSION = 1;

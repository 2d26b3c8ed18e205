/**
 * The process kdelay measures when no -p is given, as its comm names it:
 * the target is found by it (system/procfs.ts), and the text report shows
 * Open vSwitch's own sections for a target so named (report/text-style.ts).
 */
export const OPEN_VSWITCH_DAEMON = 'ovs-vswitchd';

/** Trigger syntax: every spelling the reference and its docs use, and every way to get it wrong. */
import { describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../host/base/exit-codes.js';
import { parseTrigger } from '../../host/system/triggers.js';

describe('parseTrigger', () => {
  it.each([
    ['u:udpif_revalidator:start_dump', 'usdt', ['udpif_revalidator', 'start_dump']],
    ['usdt:main:poll_block', 'usdt', ['main', 'poll_block']],
    ['t:openvswitch:ovs_dp_upcall', 'tracepoint', ['openvswitch', 'ovs_dp_upcall']],
    ['trace:syscalls:sys_enter_getppid', 'tracepoint', ['syscalls', 'sys_enter_getppid']],
    ['k:ovs_dp_process_packet', 'kprobe', ['ovs_dp_process_packet']],
    ['kprobe:do_sys_openat2', 'kprobe', ['do_sys_openat2']],
    ['kr:ovs_dp_process_packet', 'kretprobe', ['ovs_dp_process_packet']],
    ['kretprobe:do_sys_openat2', 'kretprobe', ['do_sys_openat2']],
    ['up:bridge_run', 'uprobe', ['bridge_run']],
    ['uprobe:bridge_run', 'uprobe', ['bridge_run']],
    ['ur:bridge_run', 'uretprobe', ['bridge_run']],
    ['upr:bridge_run', 'uretprobe', ['bridge_run']],
    ['uretprobe:bridge_run', 'uretprobe', ['bridge_run']],
    ['up:_ZN3foo3barEv', 'uprobe', ['_ZN3foo3barEv']],
    // A function in a shared library: a mapped file's name, or a path.
    ['up:libc.so.6:malloc', 'uprobe', ['libc.so.6', 'malloc']],
    ['ur:libc:malloc', 'uretprobe', ['libc', 'malloc']],
    ['uretprobe:c:malloc', 'uretprobe', ['c', 'malloc']],
    ['upr:libstdc++.so.6:_Znwm', 'uretprobe', ['libstdc++.so.6', '_Znwm']],
    ['up:/usr/lib/x86_64-linux-gnu/libfoo.so:fn', 'uprobe', ['/usr/lib/x86_64-linux-gnu/libfoo.so', 'fn']],
    ['uprobe:./build/libfoo.so:fn', 'uprobe', ['./build/libfoo.so', 'fn']],
    ['up:/opt/my lib/libfoo.so:fn', 'uprobe', ['/opt/my lib/libfoo.so', 'fn']],
  ])('%s', (text, kind, args) => expect(parseTrigger(text)).toEqual({ text, kind, args }));

  it.each([
    ['bridge_run', "can't extract probe type"],
    ['x:bridge_run', "invalid probe type 'x'"],
    ['u:provider', 'invalid number of arguments for USDT'],
    ['u:a:b:c', 'invalid number of arguments for USDT'],
    ['t:sched', 'invalid number of arguments for TRACE'],
    ['k:a:b', 'invalid number of arguments for K(RET)PROBE'],
    ['up:', "'' is not a valid name"],
    ['up:a b', "'a b' is not a valid name"],
    ['ur:a:b:c', 'invalid number of arguments for U(RET)PROBE'],
    ['up::malloc', "'' is not a library file name or path"],
    ['up:lib c:malloc', "'lib c' is not a library file name or path"],
    ['up:libc.so.6:', "'' is not a valid name"],
    ['up:libc.so.6:a b', "'a b' is not a valid name"],
    ['k:lib:fn', 'invalid number of arguments for K(RET)PROBE'],
  ])('rejects %s', (text, reason) => {
    let error: unknown;
    try {
      parseTrigger(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(ExitCode.CONFIG);
    expect((error as UserError).message).toContain(`[${text}]; ${reason}`);
  });
});

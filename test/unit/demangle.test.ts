/**
 * host/symbols/demangle.ts: C++ (Itanium) and Rust (legacy, v0) names as
 * perf and bpftrace print them, checked against c++filt's output for the C++
 * names (written down here, so the test needs no binutils), and what is not
 * mangled, or not validly, left as it is. Plus why a symbol file gave no name.
 */
import { describe, expect, it } from 'vitest';
import { demangle } from '../../host/symbols/demangle.js';
import { ElfError } from '../../host/symbols/elf.js';
import { unreadableReason } from '../../host/symbols/user-symbolizer.js';

describe('demangle', () => {
  it.each([
    // C++: a namespaced function, templates, std:: substitutions, operators, ctors, clones.
    // c++filt prints a function template's return type too (`void kdtest::...`); cpp_demangle leaves it out.
    ['_ZN6kdtest6detail3napIlEEvT_', 'kdtest::detail::nap<long>(long)'],
    ['_ZN6kdtest6NapperIlE3runEi', 'kdtest::Napper<long>::run(int)'],
    ['_ZN6kdtest6NapperIlE3runEi.isra.0', 'kdtest::Napper<long>::run(int) [clone .isra.0]'],
    ['_ZN3foo3barEv.cold', 'foo::bar() [clone .cold]'],
    ['_ZNSt6vectorIiSaIiEE9push_backERKi', 'std::vector<int, std::allocator<int> >::push_back(int const&)'],
    ['_ZNKSt8functionIFvvEEclEv', 'std::function<void ()>::operator()() const'],
    ['_ZN3ovs5MutexC2Ev', 'ovs::Mutex::Mutex()'],
    ['_ZN3ovs5MutexD1Ev', 'ovs::Mutex::~Mutex()'],
    ['_ZL4spinv', 'spin()'],
    ['_Z1fPKcRiS1_', 'f(char const*, int&, int&)'],
    ['_ZZ4mainENKUlvE_clEv', 'main::{lambda()#1}::operator()() const'],
    // Mach-O's extra underscore.
    ['__ZN3foo3barEv', 'foo::bar()'],
    // Rust: legacy (the hash left out, as perf prints it) and v0.
    ['_ZN3std2rt10lang_start17h0123456789abcdefE', 'std::rt::lang_start'],
    [
      '_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE',
      expect.stringMatching(/^core::ptr::drop_in_place<std::rt::lang_start<\(\)>::\{\{closure\}\}>$/),
    ],
    ['_RNvCs1234_7mycrate3foo', 'mycrate::foo'],
    ['_RNvNtCs1234_7mycrate6module4func', 'mycrate::module::func'],
  ])('%s', (mangled, shown) => {
    expect(demangle(mangled)).toEqual(shown);
  });

  it.each(['main', 'do_nanosleep', 'ovs_mutex_lock_at', '__libc_start_main', '_Zbogus', '_R', '_ZN3foo', ''])('leaves %j as it is', (name) => {
    expect(demangle(name)).toBe(name);
  });
});

describe('why a symbol file gave no name', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    [errno('EACCES'), 'not readable (EACCES)'],
    [errno('EPERM'), 'not readable (EPERM)'],
    [errno('ENOENT'), 'not found'],
    [new ElfError('not an ELF file'), 'not ELF64 (not an ELF file)'],
    [new Error('what'), 'not readable'],
  ])('%s', (err, why) => {
    expect(unreadableReason(err)).toBe(why);
  });
});

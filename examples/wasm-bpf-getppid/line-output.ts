// Output without allocation for plain guests: one line at a time in a
// static buffer, written with WASI fd_write. ASCII only; a line longer than
// LINE_CAPACITY is cut. Shared by the example and test/guests/plain_misbehaving.ts.

import { fd_write } from "./abi";

const LINE_CAPACITY = 256;
const line = memory.data(LINE_CAPACITY);
let lineLength = 0;

export function put(text: string): void {
  for (let i = 0; i < text.length && lineLength < LINE_CAPACITY; i++) {
    store<u8>(line + lineLength++, <u8>text.charCodeAt(i)); // ASCII only
  }
}

export function putNumber(value: u64): void {
  const digits = memory.data(20);
  let n = 0;
  do {
    store<u8>(digits + n++, <u8>(0x30 + value % 10));
    value /= 10;
  } while (value);
  while (n && lineLength < LINE_CAPACITY) store<u8>(line + lineLength++, load<u8>(digits + --n));
}

export function putSigned(value: i64): void {
  if (value < 0) {
    put("-");
    putNumber(<u64>-value);
  } else {
    putNumber(<u64>value);
  }
}

export function endLine(fd: u32): void {
  put("\n");
  const iov = memory.data(8);
  const written = memory.data(4);
  store<u32>(iov, <u32>line);
  store<u32>(iov, lineLength, 4);
  fd_write(fd, iov, 1, written);
  lineLength = 0;
}

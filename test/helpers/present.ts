// `present(x, 'what')`: the value, or a thrown Error that names what was missing. For values a
// test knows are there (a supply it started, a regex it expects to match); a failure says which.
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${value}`);
  return value;
}

// Module resolution hook for the tests and bench/emdash: EmDash's main entry imports "astro/zod" (Astro's
// re-export of zod). The tests run EmDash outside Astro, so that one specifier resolves to the
// zod package EmDash depends on; everything else resolves as usual.
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier === "astro/zod" ? "zod" : specifier, context);
}

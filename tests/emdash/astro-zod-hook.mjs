// Node module-resolution hook used by site.mjs.
//
// EmDash's main entry imports `z` from "astro/zod", which is Astro's
// re-export of the `zod` package. This fixture runs EmDash outside Astro and
// must not install astro (an EmDash peer dependency), so "astro/zod" is
// resolved to the `zod` package that EmDash itself depends on. Every other
// specifier resolves normally.
export async function resolve(specifier, context, nextResolve) {
  if (specifier === "astro/zod") return nextResolve("zod", context);
  return nextResolve(specifier, context);
}

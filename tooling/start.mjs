// `pnpm start` until apps/server lands: say plainly what exists and what to run instead.
console.error(`Sluice's server is not built yet: it is the milestone after the sandbox and the adapters.

What works today:
  ./dev test          core, every conformance suite, and the in-memory adapters
  pnpm typecheck      and pnpm lint

See README.md ("Status") for what has landed.`)
process.exit(1)

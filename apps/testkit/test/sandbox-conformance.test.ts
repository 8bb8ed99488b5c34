// The sandbox conformance suite against isolated-vm, over the memory adapters. It runs here, where
// core, memory and the sandbox are composed: adapters do not depend on one another.
import { describeSandboxConformance } from '@sluice/conformance'
import {
  createMemoryCache,
  createMemoryDeadLetterStore,
  createMemoryJobQueue,
  createMemoryLogSink,
  createMemoryMetricsSink,
  createMemoryRegistry,
  createMemoryStorage,
} from '@sluice/memory'
import { createIsolatedVmSandbox, isolatedVmSandboxCapabilities } from '@sluice/sandbox-isolated-vm'

describeSandboxConformance(
  'isolated-vm',
  ({ limits }) => createIsolatedVmSandbox(limits),
  isolatedVmSandboxCapabilities,
  {
    services: ({ time }) => ({
      cache: createMemoryCache({ clock: time.clock }),
      storage: createMemoryStorage(),
      jobQueue: createMemoryJobQueue(),
      registry: createMemoryRegistry({ clock: time.clock }),
      logSink: createMemoryLogSink(),
      metricsSink: createMemoryMetricsSink(),
      deadLetters: createMemoryDeadLetterStore({ clock: time.clock }),
    }),
  },
)

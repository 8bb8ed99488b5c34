// Argument parsing and dispatch of the `sluice` command (node:util parseArgs, no framework).
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type CliIo, writeTo } from './io.js'

/** Exit codes of the `sluice` command. */
export const EXIT = {
  /** Everything was fine. */
  ok: 0,
  /** Problems were found: an invalid plugin or config, a failed event, a plugin that did not start. */
  problems: 1,
  /** The command line itself was wrong: unknown command or option, missing argument. */
  usage: 2,
} as const

const MAIN_HELP = `sluice — run PostHog plugins in isolated-vm sandboxes

Usage:
  sluice validate <plugin> [<plugin> ...] [config options]
  sluice run <plugin> [<plugin> ...] [config options] < events.jsonl > out.jsonl
  sluice serve
  sluice help [<command>]

A <plugin> is a folder holding plugin.json, or a .tgz, .tar or .zip archive of one.

Commands:
  validate   check plugin.json, the config schema, the code and its imports in the sandbox;
             list the plugin's functions, schedules, jobs, metrics and public jobs
  run        send JSONL events through the plugins' processEvent chain; processed events
             are written to stdout as JSONL, plugin logs and a summary to stderr
  serve      start the server: PostHog-compatible capture, plugins, sinks and the admin API,
             configured by environment variables (embedded defaults when none are set)

Options:
  -h, --help      show help (also: sluice <command> --help)
  -v, --version   print the version

Exit codes: 0 success, 1 problems found, 2 usage error.
`

const CONFIG_HELP = `Config options:
  --config <key>=<value>             a config value, for every plugin that declares <key>
  --config <plugin>.<key>=<value>    a config value for one plugin, by plugin.json name or folder name
  --config-file <file.json>          config values from a JSON object; an object under a plugin's
                                     name holds that plugin's own values (repeatable)
  --attachment [<plugin>.]<key>=<path>
                                     a file for an attachment field (repeatable)
  Later options win: config files, then --config <key>, then --config <plugin>.<key>.
`

const VALIDATE_HELP = `Usage: sluice validate <plugin> [<plugin> ...] [config options]

Checks each plugin without running events, and prints a report on stdout:
  files        every text file is read (node_modules and .git are not; images, fonts and lockfiles
               are skipped); binary or oversized files are problems
  plugin.json  required fields and types, and the entry file (main, else index.ts, else index.js)
  config       the config schema; with config options, also that config against the schema
  code         compiles (TypeScript and ES modules included) and loads in the real isolated-vm
               sandbox; a forbidden import or a syntax error is reported with its file and line
Then lists the plugin's functions, schedules, jobs, metrics and publicJobs.

${CONFIG_HELP}
Exit code: 0 when every plugin is valid, 1 when any problem was found, 2 for usage errors.
`

const RUN_HELP = `Usage: sluice run <plugin> [<plugin> ...] [config options] < events.jsonl > out.jsonl

Runs every input event through the processEvent chain of the plugins, in the order given, in the
real isolated-vm sandbox over in-memory services. Each kept event is written to stdout as one
JSON line; dropped events are left out. onEvent and onSnapshot run too; exportEvents,
composeWebhook, schedules and jobs do not.

Input: one PluginEvent per line; blank lines are skipped. "event" is required. Missing fields
are filled: uuid (a random UUID), team_id (1), distinct_id ("anonymous"), properties ({}),
now (the time the line was read), ip (null), site_url ("").
Output: the processed event as sinks receive it: uuid, distinct_id, ip, team_id, event,
timestamp, properties (with $plugins_succeeded / $plugins_failed), $set, $set_once.
stderr: plugin logs as "[<plugin name>] <level>: <message>", unusable lines as
"sluice run: line <n>: <reason>", and at the end "in N, out N, dropped N, failed N".

${CONFIG_HELP}
Services: fetch and posthog.api use a real HTTP client that refuses loopback, private, link-local
and metadata addresses. meta.geoip answers from --geoip <file.mmdb> (a MaxMind City database);
without it, geoip lookups fail with a clear error.

Exit code: 0 when every event went through every plugin; 1 when a line was not a usable event
or a plugin failed on an event (the other events are still processed and written), or when a
plugin, its config or its setupPlugin failed (then nothing is run); 2 for usage errors.
`

const SERVE_HELP = `Usage: sluice serve

Starts the Sluice server in the foreground. With no settings it runs embedded: the in-memory queue
and cache, PGlite in ./.sluice-data, events written to ./.sluice-data/events.jsonl, listening on
http://127.0.0.1:8000. The first start prints an admin token once.

Settings are environment variables (SLUICE_PORT, SLUICE_QUEUE, KAFKA_BROKERS, DATABASE_URL,
REDIS_URL, SLUICE_SINKS, ...): the README's Configuration section lists every one. An unknown
SLUICE_* variable or a bad value stops the start with a message saying what to fix.

SIGTERM or Ctrl-C shuts down gracefully: no new requests, queued events finish, sinks flush.

Exit code: 0 after a graceful shutdown, 1 when the server could not start or stop, 2 for a bad
setting.
`

const HELP: Record<string, string> = { validate: VALIDATE_HELP, run: RUN_HELP, serve: SERVE_HELP }

/** The options every command takes. */
function parseCommandArgs(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', multiple: true },
      'config-file': { type: 'string', multiple: true },
      attachment: { type: 'string', multiple: true },
      geoip: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  })
}

/** The version of this package, from its package.json (one level above src/ and dist/). */
function version(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}

function usageMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message: string }
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1]
    return `unknown option '${option}'`
  }
  const first = message.split('. ')[0] ?? message
  return first.charAt(0).toLowerCase() + first.slice(1)
}

/**
 * Runs the `sluice` command line (without the `node` and script arguments) and resolves to the
 * exit code; see {@link EXIT}.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const err = (text: string) => writeTo(io.stderr, text)
  const [command, ...rest] = argv

  if (command === undefined) {
    await err(MAIN_HELP)
    return EXIT.usage
  }
  if (command === '-h' || command === '--help') {
    await writeTo(io.stdout, MAIN_HELP)
    return EXIT.ok
  }
  if (command === '-v' || command === '--version') {
    await writeTo(io.stdout, `${version()}\n`)
    return EXIT.ok
  }
  if (command === 'help') {
    const topic = rest[0]
    if (topic === undefined) {
      await writeTo(io.stdout, MAIN_HELP)
      return EXIT.ok
    }
    const help = HELP[topic]
    if (help === undefined || rest.length > 1) {
      await err(`sluice help: unknown command '${topic}'\nRun 'sluice --help' for the commands.\n`)
      return EXIT.usage
    }
    await writeTo(io.stdout, help)
    return EXIT.ok
  }
  const help = HELP[command]
  if (help === undefined) {
    const what = command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`
    await err(`sluice: ${what}\nRun 'sluice --help' for the commands.\n`)
    return EXIT.usage
  }

  let parsed: ReturnType<typeof parseCommandArgs>
  try {
    parsed = parseCommandArgs(rest)
  } catch (error) {
    await err(`sluice ${command}: ${usageMessage(error)}\nRun 'sluice ${command} --help' for usage.\n`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  if (values.help) {
    await writeTo(io.stdout, help)
    return EXIT.ok
  }
  if (command === 'serve') {
    if (positionals.length > 0) {
      await err(
        `sluice serve: takes no arguments (settings are environment variables)\nRun 'sluice serve --help' for usage.\n`,
      )
      return EXIT.usage
    }
    const { runServer } = await import('@sluice/server')
    await runServer({ env: io.env ?? {}, cwd: io.cwd, stderr: io.stderr })
    // The server runs until a signal; its handler exits the process.
    return new Promise<number>(() => {})
  }
  if (positionals.length === 0) {
    await err(
      `sluice ${command}: give at least one plugin folder or archive\nRun 'sluice ${command} --help' for usage.\n`,
    )
    return EXIT.usage
  }
  const options = {
    plugins: positionals,
    config: values.config ?? [],
    configFiles: values['config-file'] ?? [],
    attachments: values.attachment ?? [],
    ...(values.geoip === undefined ? {} : { geoipDatabase: values.geoip }),
  }
  // Loaded on use, so help and usage errors do not start isolated-vm.
  if (command === 'run') return (await import('./run.js')).runCommand(options, io)
  return (await import('./validate.js')).validateCommand(options, io)
}

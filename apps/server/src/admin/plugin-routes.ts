// /api/plugins: install from a server path, source files or an uploaded archive; update; remove.
import {
  type ArchiveKind,
  type LoadedPluginFiles,
  loadPluginArchive,
  loadPluginFiles,
  loadPluginSources,
} from '@sluice/plugin-files'
import { HttpError, type HttpRequest, json, type Route } from '../http/types.js'
import { type AdminContext, manifestOrNull, pluginView, validateConfigForSave } from './context.js'
import { isJsonObject, mediaType, onlyKnownFields, queryParam, readBody, readJsonObject } from './input.js'

/** Archive uploads by Content-Type; `application/octet-stream` takes the kind from `?name=`. */
const ARCHIVE_TYPES: Readonly<Record<string, ArchiveKind | undefined>> = {
  'application/gzip': 'tgz',
  'application/x-gzip': 'tgz',
  'application/x-tar': 'tar',
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
  'application/octet-stream': undefined,
}

const DEFAULT_MAX_PLUGIN_BYTES = 16 * 1024 * 1024

const HOW_TO_SEND =
  'send JSON {"path": "<plugin folder or archive on the server>"} or {"files": {"plugin.json": "...", "index.ts": "..."}}, ' +
  'or the archive itself as application/gzip, application/x-tar or application/zip with ?name=<file name>'

async function readPlugin(context: AdminContext, request: HttpRequest): Promise<LoadedPluginFiles> {
  const limits = context.options.pluginLimits ?? {}
  const maxBytes = limits.maxTotalBytes ?? DEFAULT_MAX_PLUGIN_BYTES
  const type = mediaType(request)
  if (Object.hasOwn(ARCHIVE_TYPES, type)) {
    const data = await readBody(
      request,
      maxBytes,
      `the plugin upload is larger than ${maxBytes} bytes, the limit for a plugin: remove large files`,
    )
    const name = queryParam(request, 'name')
    return loadPluginArchive(data, { ...limits, kind: ARCHIVE_TYPES[type], ...(name ? { name } : {}) })
  }
  if (type !== 'application/json' && type !== '') {
    throw new HttpError(415, `Content-Type ${type} is not accepted here: ${HOW_TO_SEND}`)
  }
  // JSON escaping can double the size of source text.
  const body = await readJsonObject(request, 2 * maxBytes + 64 * 1024)
  onlyKnownFields(body, ['path', 'files'])
  if (typeof body.path === 'string' && body.files === undefined) return loadPluginFiles(body.path, limits)
  if (isJsonObject(body.files) && body.path === undefined) return loadPluginSources(body.files, limits)
  throw new HttpError(400, `the body names no plugin: ${HOW_TO_SEND} (one of path or files)`)
}

/** Problems each existing config of a plugin would have under a new manifest (shown, not enforced). */
async function configProblems(context: AdminContext, loaded: LoadedPluginFiles, pluginId: number) {
  const { registry } = context.options
  const found: { configId: number; problems: unknown }[] = []
  for (const config of await registry.listConfigs({ pluginId })) {
    const attachments = (await registry.listAttachments(config.id)).map((attachment) => attachment.key)
    try {
      validateConfigForSave(loaded.manifest, config.config, config.enabled, attachments)
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      found.push({ configId: config.id, problems: error.details?.problems })
    }
  }
  return found
}

/** The plugin routes. */
export function pluginRoutes(context: AdminContext): Route[] {
  const { registry } = context.options
  return [
    {
      method: 'GET',
      path: '/api/plugins',
      async handle() {
        const plugins = await registry.listPlugins()
        return json(200, {
          plugins: plugins.map((plugin) => pluginView(plugin, manifestOrNull(plugin))),
        })
      },
    },
    {
      method: 'GET',
      path: '/api/plugins/:id',
      async handle(request, params) {
        const plugin = await context.requirePlugin(params.id)
        const withSources = ['1', 'true'].includes(queryParam(request, 'files') ?? '')
        return json(200, pluginView(plugin, manifestOrNull(plugin), withSources))
      },
    },
    {
      method: 'POST',
      path: '/api/plugins',
      async handle(request) {
        const loaded = await readPlugin(context, request)
        const plugin = await registry.createPlugin({
          name: loaded.manifest.name,
          version: loaded.source.version,
          files: loaded.files,
        })
        return json(201, { ...pluginView(plugin, loaded.manifest), skipped: loaded.skipped })
      },
    },
    {
      method: 'PUT',
      path: '/api/plugins/:id',
      async handle(request, params) {
        const previous = await context.requirePlugin(params.id)
        const loaded = await readPlugin(context, request)
        const plugin = await registry.updatePlugin(previous.id, {
          name: loaded.manifest.name,
          version: loaded.source.version,
          files: loaded.files,
        })
        const changed = plugin.version !== previous.version
        if (changed) await context.changed()
        return json(200, {
          ...pluginView(plugin, loaded.manifest),
          skipped: loaded.skipped,
          changed,
          configProblems: await configProblems(context, loaded, plugin.id),
        })
      },
    },
    {
      method: 'DELETE',
      path: '/api/plugins/:id',
      async handle(_request, params) {
        const plugin = await context.requirePlugin(params.id)
        await registry.deletePlugin(plugin.id)
        await context.changed()
        return { status: 204 }
      },
    },
  ]
}

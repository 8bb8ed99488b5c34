// /api/configs: plugin configs per team (validated against the plugin's schema, secrets write-only)
// and their attachments. Every change is announced so that all instances reload.
import { mergeWithSecrets, type PluginConfigChanges, type PluginRecord } from '@sluice/core'
import { HttpError, json, type Route } from '../http/types.js'
import {
  type AdminContext,
  attachmentFieldKeys,
  configView,
  manifestOrNull,
  validateConfigForSave,
} from './context.js'
import {
  isJsonObject,
  type JsonObject,
  mediaType,
  onlyKnownFields,
  optionalBoolean,
  optionalInteger,
  queryParam,
  readBody,
  readJsonObject,
  requiredInteger,
} from './input.js'

const DEFAULT_MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
const ORDER_RANGE = { min: 0, max: 1_000_000 }

function configValues(body: JsonObject): JsonObject | undefined {
  if (body.config === undefined) return undefined
  if (!isJsonObject(body.config)) {
    throw new HttpError(400, 'config must be a JSON object of values by key, e.g. {"apiKey": "..."}', {
      field: 'config',
    })
  }
  return body.config
}

const attachmentView = (attachment: {
  key: string
  contentType: string
  fileName: string
  contents: Uint8Array
}) => ({
  key: attachment.key,
  contentType: attachment.contentType,
  fileName: attachment.fileName,
  bytes: attachment.contents.length,
})

/** The config and attachment routes. */
export function configRoutes(context: AdminContext): Route[] {
  const { registry } = context.options
  const maxAttachmentBytes = context.options.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES

  const attachmentKeys = async (configId: number) =>
    (await registry.listAttachments(configId)).map((attachment) => attachment.key)

  return [
    {
      method: 'GET',
      path: '/api/configs',
      async handle(request) {
        const teamId = optionalInteger(queryParam(request, 'team'), 'team', { min: 0 })
        const pluginId = optionalInteger(queryParam(request, 'plugin'), 'plugin', { min: 1 })
        const configs = await registry.listConfigs({
          ...(teamId === undefined ? {} : { teamId }),
          ...(pluginId === undefined ? {} : { pluginId }),
        })
        const plugins = new Map((await registry.listPlugins()).map((plugin) => [plugin.id, plugin]))
        return json(200, {
          configs: configs.flatMap((config) => {
            const plugin = plugins.get(config.pluginId)
            return plugin ? [configView(context, config, plugin, manifestOrNull(plugin))] : []
          }),
        })
      },
    },
    {
      method: 'POST',
      path: '/api/configs',
      async handle(request) {
        const body = await readJsonObject(request)
        onlyKnownFields(body, ['pluginId', 'teamId', 'enabled', 'order', 'config'])
        const pluginId = requiredInteger(body.pluginId, 'pluginId', { min: 1 })
        const teamId = requiredInteger(body.teamId, 'teamId', { min: 0 })
        const enabled = optionalBoolean(body.enabled, 'enabled') ?? true
        const givenOrder = optionalInteger(body.order, 'order', ORDER_RANGE)
        const values = configValues(body) ?? {}
        const plugin: PluginRecord | null = await registry.getPlugin(pluginId)
        if (!plugin) {
          throw new HttpError(
            404,
            `no plugin with id ${pluginId}: install it with POST /api/plugins, or pick an id from GET /api/plugins`,
          )
        }
        const manifest = context.manifestOf(plugin)
        const config = validateConfigForSave(
          manifest,
          mergeWithSecrets(manifest.config, undefined, values),
          enabled,
          [],
        )
        // A new config goes to the end of the team's chain unless placed.
        const order =
          givenOrder ??
          (await registry.listConfigs({ teamId })).reduce((last, other) => Math.max(last, other.order + 1), 0)
        const record = await registry.createConfig({ pluginId, teamId, enabled, order, config })
        await context.changed()
        return json(201, configView(context, record, plugin, manifest))
      },
    },
    {
      method: 'GET',
      path: '/api/configs/:id',
      async handle(_request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const attachments = await registry.listAttachments(config.id)
        return json(200, {
          ...configView(context, config, plugin, manifestOrNull(plugin)),
          attachments: attachments.map(attachmentView),
        })
      },
    },
    {
      method: 'PATCH',
      path: '/api/configs/:id',
      async handle(request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const body = await readJsonObject(request)
        onlyKnownFields(body, ['enabled', 'order', 'config'])
        const enabled = optionalBoolean(body.enabled, 'enabled')
        const order = optionalInteger(body.order, 'order', ORDER_RANGE)
        const values = configValues(body)
        const changes: PluginConfigChanges = {}
        if (order !== undefined) changes.order = order
        if (enabled !== undefined) changes.enabled = enabled
        // Enabling clears the error a disabled config was left with.
        if (enabled === true) changes.error = null
        const manifest = context.manifestOf(plugin)
        if (values !== undefined || (enabled === true && !config.enabled)) {
          const merged = values === undefined ? config.config : { ...config.config, ...values }
          changes.config = validateConfigForSave(
            manifest,
            mergeWithSecrets(manifest.config, config.config, merged),
            enabled ?? config.enabled,
            await attachmentKeys(config.id),
          )
        }
        const record = await registry.updateConfig(config.id, changes)
        await context.changed()
        return json(200, configView(context, record, plugin, manifest))
      },
    },
    {
      method: 'DELETE',
      path: '/api/configs/:id',
      async handle(_request, params) {
        const { config } = await context.requireConfig(params.id)
        await registry.deleteConfig(config.id)
        await context.changed()
        return { status: 204 }
      },
    },
    {
      method: 'GET',
      path: '/api/configs/:id/attachments',
      async handle(_request, params) {
        const { config } = await context.requireConfig(params.id)
        const attachments = await registry.listAttachments(config.id)
        return json(200, { attachments: attachments.map(attachmentView) })
      },
    },
    {
      method: 'PUT',
      path: '/api/configs/:id/attachments/:key',
      async handle(request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const key = params.key ?? ''
        const fields = attachmentFieldKeys(context.manifestOf(plugin))
        if (!fields.includes(key)) {
          throw new HttpError(
            400,
            `${key} is not an attachment field of plugin ${plugin.name}: ${
              fields.length > 0 ? `its attachment fields are ${fields.join(', ')}` : 'it takes no attachments'
            }`,
          )
        }
        const contents = await readBody(
          request,
          maxAttachmentBytes,
          `the attachment is larger than ${maxAttachmentBytes} bytes, the limit for an attachment`,
        )
        const attachment = {
          configId: config.id,
          key,
          contentType: mediaType(request) || 'application/octet-stream',
          fileName: queryParam(request, 'fileName') ?? key,
          contents: new Uint8Array(contents),
        }
        await registry.putAttachment(attachment)
        await context.changed()
        return json(200, attachmentView(attachment))
      },
    },
    {
      method: 'DELETE',
      path: '/api/configs/:id/attachments/:key',
      async handle(_request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const key = params.key ?? ''
        const stored = await attachmentKeys(config.id)
        if (!stored.includes(key)) {
          throw new HttpError(
            404,
            `plugin config ${config.id} has no attachment ${key}: GET /api/configs/${config.id}/attachments lists them`,
          )
        }
        if (config.enabled) {
          const remaining = stored.filter((other) => other !== key)
          try {
            validateConfigForSave(context.manifestOf(plugin), config.config, true, remaining)
          } catch (error) {
            if (!(error instanceof HttpError) || error.status !== 400) throw error
            throw new HttpError(
              409,
              `plugin config ${config.id} is enabled and needs attachment ${key}: upload a replacement with PUT, or disable the config first`,
            )
          }
        }
        await registry.deleteAttachment(config.id, key)
        await context.changed()
        return { status: 204 }
      },
    },
  ]
}

import {
  type AttachmentRecord,
  type NewPlugin,
  type PluginConfigError,
  type PluginConfigRecord,
  type PluginRecord,
  type Registry,
  RegistryError,
} from '@sluice/core'
import { createGuard, invalidArgument, type StoreContext, tableName, toBytes, toNumber } from './context.js'
import type { Row } from './driver.js'

const PLUGIN_COLUMNS = 'id, name, version, files, created_at_ms, updated_at_ms'
const CONFIG_COLUMNS =
  'id, plugin_id, team_id, enabled, position, config, error, revision, created_at_ms, updated_at_ms'
const ATTACHMENT_COLUMNS = 'config_id, key, content_type, file_name, contents'

function sql(context: StoreContext) {
  const plugins = tableName(context, 'plugins')
  const configs = tableName(context, 'plugin_configs')
  const attachments = tableName(context, 'plugin_attachments')
  return {
    createPlugin: `
      INSERT INTO ${plugins} (name, version, files, created_at_ms, updated_at_ms)
      VALUES ($1, $2, $3::jsonb, $4, $4)
      RETURNING ${PLUGIN_COLUMNS}`,
    updatePlugin: `
      UPDATE ${plugins} SET name = $2, version = $3, files = $4::jsonb, updated_at_ms = $5
      WHERE id = $1
      RETURNING ${PLUGIN_COLUMNS}`,
    getPlugin: `SELECT ${PLUGIN_COLUMNS} FROM ${plugins} WHERE id = $1`,
    listPlugins: `SELECT ${PLUGIN_COLUMNS} FROM ${plugins} ORDER BY id`,
    // Configs and their attachments go with it (ON DELETE CASCADE).
    deletePlugin: `DELETE FROM ${plugins} WHERE id = $1`,

    // Selecting the plugin row makes a missing plugin insert nothing instead of failing on the key.
    createConfig: `
      INSERT INTO ${configs} (plugin_id, team_id, enabled, position, config, created_at_ms, updated_at_ms)
      SELECT id, $2, $3, $4, $5::jsonb, $6, $6 FROM ${plugins} WHERE id = $1
      RETURNING ${CONFIG_COLUMNS}`,
    updateConfig: `
      UPDATE ${configs} SET
        enabled = coalesce($2, enabled),
        position = coalesce($3, position),
        config = CASE WHEN $4 THEN $5::jsonb ELSE config END,
        error = CASE WHEN $6 THEN $7::jsonb ELSE error END,
        revision = revision + 1,
        updated_at_ms = $8
      WHERE id = $1
      RETURNING ${CONFIG_COLUMNS}`,
    getConfig: `SELECT ${CONFIG_COLUMNS} FROM ${configs} WHERE id = $1`,
    listConfigs: `
      SELECT ${CONFIG_COLUMNS} FROM ${configs}
      WHERE ($1::bigint IS NULL OR team_id = $1)
        AND ($2::bigint IS NULL OR plugin_id = $2)
        AND ($3::boolean IS NULL OR enabled = $3)
      ORDER BY team_id, position, id`,
    deleteConfig: `DELETE FROM ${configs} WHERE id = $1`,

    // One statement: the revision bump locks the config row, so the attachment cannot outlive it.
    putAttachment: `
      WITH bumped AS (
        UPDATE ${configs} SET revision = revision + 1, updated_at_ms = $6 WHERE id = $1 RETURNING id
      )
      INSERT INTO ${attachments} (config_id, key, content_type, file_name, contents)
      SELECT id, $2, $3, $4, $5::bytea FROM bumped
      ON CONFLICT (config_id, key) DO UPDATE SET
        content_type = excluded.content_type,
        file_name = excluded.file_name,
        contents = excluded.contents
      RETURNING config_id`,
    listAttachments: `
      SELECT ${ATTACHMENT_COLUMNS} FROM ${attachments} WHERE config_id = $1 ORDER BY key COLLATE "C"`,
    deleteAttachment: `
      WITH gone AS (
        DELETE FROM ${attachments} WHERE config_id = $1 AND key = $2 RETURNING config_id
      ), bumped AS (
        UPDATE ${configs} SET revision = revision + 1, updated_at_ms = $3
        WHERE id IN (SELECT config_id FROM gone)
      )
      SELECT count(*)::integer AS deleted FROM gone`,
  }
}

/**
 * Creates the {@link Registry} over the store's `plugins`, `plugin_configs` and
 * `plugin_attachments` tables. Every write is one statement, so it is atomic on its own; deleting
 * a plugin or config cascades to what belongs to it.
 */
export function createPostgresRegistry(context: StoreContext): Registry {
  const { driver, clock } = context
  const statements = sql(context)
  const guard = createGuard(context, RegistryError, 'registry')

  const notFound = (what: 'plugin' | 'plugin config', id: number, operation: string) =>
    invalidArgument(
      RegistryError,
      'registry',
      `${operation}: ${what} ${id} does not exist — list ${what === 'plugin' ? 'plugins' : 'configs'} for valid ids`,
      what === 'plugin' ? 'plugin_not_found' : 'config_not_found',
    )

  return {
    createPlugin: (plugin) =>
      guard('createPlugin', async () => {
        const { rows } = await driver.query(statements.createPlugin, [...pluginParams(plugin), clock.now()])
        return toPlugin(rows[0] as Row)
      }),

    updatePlugin: (id, plugin) =>
      guard('updatePlugin', async () => {
        const { rows } = await driver.query(statements.updatePlugin, [
          id,
          ...pluginParams(plugin),
          clock.now(),
        ])
        if (!rows[0]) throw notFound('plugin', id, 'updatePlugin')
        return toPlugin(rows[0])
      }),

    getPlugin: (id) =>
      guard('getPlugin', async () => {
        const { rows } = await driver.query(statements.getPlugin, [id])
        return rows[0] ? toPlugin(rows[0]) : null
      }),

    listPlugins: () =>
      guard('listPlugins', async () => (await driver.query(statements.listPlugins)).rows.map(toPlugin)),

    deletePlugin: (id) =>
      guard('deletePlugin', async () => (await driver.query(statements.deletePlugin, [id])).rowCount > 0),

    createConfig: (config) =>
      guard('createConfig', async () => {
        const { rows } = await driver.query(statements.createConfig, [
          config.pluginId,
          config.teamId,
          config.enabled,
          config.order,
          configJson(config.config),
          clock.now(),
        ])
        if (!rows[0]) throw notFound('plugin', config.pluginId, 'createConfig')
        return toConfig(rows[0])
      }),

    updateConfig: (id, changes) =>
      guard('updateConfig', async () => {
        const { rows } = await driver.query(statements.updateConfig, [
          id,
          changes.enabled ?? null,
          changes.order ?? null,
          changes.config !== undefined,
          changes.config === undefined ? null : configJson(changes.config),
          changes.error !== undefined,
          changes.error === undefined || changes.error === null ? null : errorJson(changes.error),
          clock.now(),
        ])
        if (!rows[0]) throw notFound('plugin config', id, 'updateConfig')
        return toConfig(rows[0])
      }),

    getConfig: (id) =>
      guard('getConfig', async () => {
        const { rows } = await driver.query(statements.getConfig, [id])
        return rows[0] ? toConfig(rows[0]) : null
      }),

    listConfigs: (filter = {}) =>
      guard('listConfigs', async () => {
        const { rows } = await driver.query(statements.listConfigs, [
          filter.teamId ?? null,
          filter.pluginId ?? null,
          filter.enabled ?? null,
        ])
        return rows.map(toConfig)
      }),

    deleteConfig: (id) =>
      guard('deleteConfig', async () => (await driver.query(statements.deleteConfig, [id])).rowCount > 0),

    putAttachment: (attachment) =>
      guard('putAttachment', async () => {
        const { rows } = await driver.query(statements.putAttachment, [
          attachment.configId,
          attachment.key,
          attachment.contentType,
          attachment.fileName,
          attachment.contents,
          clock.now(),
        ])
        if (!rows[0]) throw notFound('plugin config', attachment.configId, 'putAttachment')
      }),

    listAttachments: (configId) =>
      guard('listAttachments', async () =>
        (await driver.query(statements.listAttachments, [configId])).rows.map(toAttachment),
      ),

    deleteAttachment: (configId, key) =>
      guard('deleteAttachment', async () => {
        const { rows } = await driver.query<{ deleted: number }>(statements.deleteAttachment, [
          configId,
          key,
          clock.now(),
        ])
        return toNumber(rows[0]?.deleted) > 0
      }),
  }
}

function pluginParams(plugin: NewPlugin): [string, string, string] {
  return [plugin.name, plugin.version, JSON.stringify({ ...plugin.files })]
}

function configJson(config: Readonly<Record<string, unknown>>): string {
  let text: string | undefined
  try {
    text = JSON.stringify(config)
  } catch (cause) {
    throw invalidConfig(cause)
  }
  if (text === undefined || !text.startsWith('{')) throw invalidConfig()
  return text
}

function invalidConfig(cause?: unknown): RegistryError {
  return new RegistryError('a plugin config must be a JSON object — pass the validated config values', {
    retryable: false,
    code: 'registry.invalid_config',
    component: 'postgres',
    cause,
  })
}

function errorJson(error: PluginConfigError): string {
  return JSON.stringify(
    error.source === undefined
      ? { message: error.message, time: error.time }
      : { message: error.message, time: error.time, source: error.source },
  )
}

function toPlugin(row: Row): PluginRecord {
  return {
    id: toNumber(row.id),
    name: row.name as string,
    version: row.version as string,
    files: row.files as Record<string, string>,
    createdAt: toNumber(row.created_at_ms),
    updatedAt: toNumber(row.updated_at_ms),
  }
}

function toConfig(row: Row): PluginConfigRecord {
  return {
    id: toNumber(row.id),
    pluginId: toNumber(row.plugin_id),
    teamId: toNumber(row.team_id),
    enabled: row.enabled as boolean,
    order: toNumber(row.position),
    config: row.config as Record<string, unknown>,
    error: (row.error as PluginConfigError | null) ?? null,
    revision: toNumber(row.revision),
    createdAt: toNumber(row.created_at_ms),
    updatedAt: toNumber(row.updated_at_ms),
  }
}

function toAttachment(row: Row): AttachmentRecord {
  return {
    configId: toNumber(row.config_id),
    key: row.key as string,
    contentType: row.content_type as string,
    fileName: row.file_name as string,
    contents: toBytes(row.contents),
  }
}

#include "store/migrations.h"

#include <string>
#include <vector>

#include "common/ids.h"

namespace ps::store {
namespace {

struct Migration {
  int version;
  const char* name;
  const char* sql;  // `{NOW}` stands for the dialect's current-time default
};

// Never edit a migration that has shipped; add a new one.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kAll = {
      {1, "plugin storage and indexes", R"SQL(
CREATE TABLE _plugin_storage (
  plugin_id TEXT NOT NULL,
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT DEFAULT {NOW},
  updated_at TEXT DEFAULT {NOW},
  CONSTRAINT pk_plugin_storage PRIMARY KEY (plugin_id, collection, id)
);
CREATE INDEX idx_plugin_storage_list ON _plugin_storage (plugin_id, collection, created_at);
CREATE TABLE _plugin_indexes (
  plugin_id TEXT NOT NULL,
  collection TEXT NOT NULL,
  index_name TEXT NOT NULL,
  fields TEXT NOT NULL,
  created_at TEXT DEFAULT {NOW},
  PRIMARY KEY (plugin_id, collection, index_name)
);
)SQL"},
      {2, "content registry, revisions, options", R"SQL(
CREATE TABLE _emdash_collections (
  id TEXT PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  label TEXT NOT NULL,
  label_singular TEXT,
  supports TEXT NOT NULL DEFAULT '[]',
  created_at TEXT DEFAULT {NOW},
  updated_at TEXT DEFAULT {NOW}
);
CREATE TABLE _emdash_fields (
  id TEXT PRIMARY KEY,
  collection_id TEXT NOT NULL REFERENCES _emdash_collections(id) ON DELETE CASCADE,
  slug TEXT NOT NULL,
  label TEXT NOT NULL,
  type TEXT NOT NULL,
  required INTEGER NOT NULL DEFAULT 0,
  sort_order INTEGER NOT NULL DEFAULT 0,
  created_at TEXT DEFAULT {NOW},
  UNIQUE (collection_id, slug)
);
CREATE TABLE revisions (
  id TEXT PRIMARY KEY,
  collection TEXT NOT NULL,
  entry_id TEXT NOT NULL,
  data TEXT NOT NULL,
  author_id TEXT,
  created_at TEXT DEFAULT {NOW}
);
CREATE INDEX idx_revisions_entry ON revisions (collection, entry_id);
CREATE TABLE _emdash_revision_prune_queue (
  collection TEXT NOT NULL,
  entry_id TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  PRIMARY KEY (collection, entry_id)
);
CREATE TABLE options (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)SQL"},
      {3, "media and users", R"SQL(
CREATE TABLE media (
  id TEXT PRIMARY KEY,
  filename TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  size INTEGER,
  width INTEGER,
  height INTEGER,
  alt TEXT,
  caption TEXT,
  storage_key TEXT NOT NULL,
  content_hash TEXT,
  created_at TEXT DEFAULT {NOW},
  author_id TEXT,
  status TEXT NOT NULL DEFAULT 'ready',
  blurhash TEXT,
  dominant_color TEXT
);
CREATE INDEX idx_media_content_hash ON media (content_hash);
CREATE INDEX idx_media_status ON media (status);
CREATE INDEX idx_media_mime_type ON media (mime_type);
CREATE INDEX idx_media_filename ON media (filename);
CREATE INDEX idx_media_created_at ON media (created_at);
CREATE INDEX idx_media_storage_key ON media (storage_key);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT,
  avatar_url TEXT,
  role INTEGER NOT NULL DEFAULT 10,
  email_verified INTEGER NOT NULL DEFAULT 0,
  data TEXT,
  created_at TEXT DEFAULT {NOW},
  updated_at TEXT DEFAULT {NOW},
  disabled INTEGER NOT NULL DEFAULT 0
);
)SQL"},
      {4, "taxonomies", R"SQL(
CREATE TABLE _emdash_taxonomy_defs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  label TEXT NOT NULL,
  label_singular TEXT,
  hierarchical INTEGER DEFAULT 0,
  collections TEXT,
  created_at TEXT DEFAULT {NOW},
  locale TEXT NOT NULL DEFAULT 'en',
  translation_group TEXT,
  UNIQUE (name, locale)
);
INSERT INTO _emdash_taxonomy_defs (id, name, label, label_singular, hierarchical, collections, locale, translation_group)
  VALUES ('taxdef_category', 'category', 'Categories', 'Category', 1, '["posts"]', 'en', 'taxdef_category');
INSERT INTO _emdash_taxonomy_defs (id, name, label, label_singular, hierarchical, collections, locale, translation_group)
  VALUES ('taxdef_tag', 'tag', 'Tags', 'Tag', 0, '["posts"]', 'en', 'taxdef_tag');
CREATE TABLE taxonomies (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  label TEXT NOT NULL,
  parent_id TEXT REFERENCES taxonomies(id) ON DELETE SET NULL,
  data TEXT,
  locale TEXT NOT NULL DEFAULT 'en',
  translation_group TEXT,
  sort_order INTEGER DEFAULT 0,
  UNIQUE (name, slug, locale)
);
CREATE TABLE content_taxonomies (
  collection TEXT NOT NULL,
  entry_id TEXT NOT NULL,
  taxonomy_id TEXT NOT NULL,
  status TEXT,
  scheduled_at TEXT,
  deleted_at TEXT,
  locale TEXT,
  published_at TEXT,
  created_at TEXT,
  PRIMARY KEY (collection, entry_id, taxonomy_id)
);
CREATE INDEX idx_content_taxonomies_term ON content_taxonomies (taxonomy_id);
)SQL"},
      {5, "media usage activation (content-write fence)", R"SQL(
CREATE TABLE _emdash_media_usage_activation (
  task_key TEXT PRIMARY KEY,
  state TEXT NOT NULL DEFAULT 'expanded',
  lease_owner TEXT,
  lease_expires_at TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT DEFAULT {NOW}
);
)SQL"},
      {6, "host: installed plugin bundles", R"SQL(
CREATE TABLE _ps_plugins (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  manifest TEXT NOT NULL,
  module TEXT NOT NULL,
  source TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  installed_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)SQL"},
  };
  return kAll;
}

Status MigrateLocked(Connection& conn, const Dialect& dialect) {
  PS_TRY(conn.ExecScript(
      RenderDdl("CREATE TABLE IF NOT EXISTS _ps_migrations (version INTEGER PRIMARY KEY, name "
                "TEXT NOT NULL, applied_at TEXT NOT NULL)",
                dialect)));
  for (const auto& m : Migrations()) {
    Status st = conn.Transaction([&]() -> Status {
      // Checked inside the write transaction so two processes starting together apply it once.
      PS_ASSIGN(auto done,
                conn.Query("SELECT 1 FROM _ps_migrations WHERE version = ?", {int64_t(m.version)}));
      if (!done.empty()) return Status::Ok();
      PS_TRY(conn.ExecScript(RenderDdl(m.sql, dialect)));
      PS_ASSIGN(auto n, conn.Exec("INSERT INTO _ps_migrations (version, name, applied_at) VALUES "
                                  "(?, ?, ?)",
                                  {int64_t(m.version), std::string(m.name), NowIso()}));
      (void)n;
      return Status::Ok();
    });
    if (!st.ok()) {
      return Status(st.code(), "migration " + std::to_string(m.version) + " (" + m.name +
                                   ") failed: " + st.message());
    }
  }
  return Status::Ok();
}

}  // namespace

int LatestSchemaVersion() { return Migrations().back().version; }

Status Migrate(Connection& conn, const Dialect& dialect) {
  // Hosts starting together on one PostgreSQL database: the first takes the lock and migrates,
  // the others wait and then find every version recorded.
  if (std::string lock = dialect.MigrationLockSql(); !lock.empty()) {
    PS_TRY(conn.ExecScript(lock));
    Status st = MigrateLocked(conn, dialect);
    Status unlock = conn.ExecScript(dialect.MigrationUnlockSql());
    return st.ok() ? unlock : st;
  }
  return MigrateLocked(conn, dialect);
}

}  // namespace ps::store

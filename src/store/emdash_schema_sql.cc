// EmDash 0.32.0's schema as SQL text, and nothing else: it is most of the bulk of the baseline
// and changes only with an EmDash release, when it is replaced by what that release's migrations
// make, so it is kept apart from the code that adapts it to a dialect (emdash_schema.cc).
#include "store/emdash_schema_sql.h"

namespace ps::store::emdash {
namespace {

// The schema EmDash 0.32.0's migrations leave on an empty database (48 tables), written once in
// SQLite's spelling. Column order, types, defaults, constraint and index names are EmDash's, so
// EmDash later finds every table as its own migrations would have made it, on both dialects
// (tests/emdash/emdash_site_test.cc compares the two schemas column by column). {NOW} is the
// timestamp default EmDash's migrations use, {BLOB} the binary type.
constexpr std::string_view kBaseline = R"SQL(CREATE TABLE "_emdash_migrations" (
  "name" varchar(255) not null primary key,
  "timestamp" varchar(255) not null
);
CREATE TABLE "_emdash_migrations_lock" (
  "id" varchar(255) not null primary key,
  "is_locked" integer default 0 not null
);
CREATE TABLE "revisions" (
  "id" text primary key,
  "collection" text not null,
  "entry_id" text not null,
  "data" text not null,
  "author_id" text,
  "created_at" text default {NOW}
);
CREATE INDEX "idx_revisions_entry" on "revisions" ("collection", "entry_id");
CREATE TABLE "media" (
  "id" text primary key,
  "filename" text not null,
  "mime_type" text not null,
  "size" integer,
  "width" integer,
  "height" integer,
  "alt" text,
  "caption" text,
  "storage_key" text not null,
  "content_hash" text,
  "created_at" text default {NOW},
  "author_id" text,
  "status" text default 'ready' not null,
  blurhash TEXT,
  dominant_color TEXT
);
CREATE INDEX "idx_media_content_hash" on "media" ("content_hash");
CREATE INDEX "idx_media_status" on "media" ("status");
CREATE INDEX "idx_media_mime_type" on "media" ("mime_type");
CREATE INDEX "idx_media_filename" on "media" ("filename");
CREATE INDEX "idx_media_created_at" on "media" ("created_at");
CREATE INDEX "idx_media_storage_key" on "media" ("storage_key");
CREATE TABLE "options" (
  "name" text primary key,
  "value" text not null
);
CREATE TABLE "audit_logs" (
  "id" text primary key,
  "timestamp" text default {NOW},
  "actor_id" text,
  "actor_ip" text,
  "action" text not null,
  "resource_type" text,
  "resource_id" text,
  "details" text,
  "status" text
);
CREATE INDEX "idx_audit_actor" on "audit_logs" ("actor_id");
CREATE INDEX "idx_audit_action" on "audit_logs" ("action");
CREATE INDEX "idx_audit_timestamp" on "audit_logs" ("timestamp");
CREATE INDEX "idx_audit_resource" on "audit_logs" ("resource_type", "resource_id");
CREATE TABLE "_emdash_collections" (
  "id" text primary key,
  "slug" text not null unique,
  "label" text not null,
  "label_singular" text,
  "description" text,
  "icon" text,
  "supports" text,
  "source" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  "search_config" text,
  has_seo INTEGER NOT NULL DEFAULT 0,
  url_pattern TEXT,
  "comments_enabled" integer default 0,
  "comments_moderation" text default 'first_time',
  "comments_closed_after_days" integer default 90,
  "comments_auto_approve_users" integer default 1
);
CREATE TABLE "_emdash_fields" (
  "id" text primary key,
  "collection_id" text not null,
  "slug" text not null,
  "label" text not null,
  "type" text not null,
  "column_type" text not null,
  "required" integer default 0,
  "unique" integer default 0,
  "default_value" text,
  "validation" text,
  "widget" text,
  "options" text,
  "sort_order" integer default 0,
  "created_at" text default {NOW},
  "searchable" integer default 0,
  translatable INTEGER NOT NULL DEFAULT 1,
  constraint "fields_collection_fk" foreign key ("collection_id") references "_emdash_collections" ("id") on delete cascade
);
CREATE UNIQUE INDEX "idx_fields_collection_slug" on "_emdash_fields" ("collection_id", "slug");
CREATE INDEX "idx_fields_collection" on "_emdash_fields" ("collection_id");
CREATE INDEX "idx_fields_sort" on "_emdash_fields" ("collection_id", "sort_order");
CREATE TABLE "_plugin_storage" (
  "plugin_id" text not null,
  "collection" text not null,
  "id" text not null,
  "data" text not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  constraint "pk_plugin_storage" primary key ("plugin_id", "collection", "id")
);
CREATE INDEX "idx_plugin_storage_list" on "_plugin_storage" ("plugin_id", "collection", "created_at");
CREATE TABLE "_plugin_state" (
  "plugin_id" text primary key,
  "version" text not null,
  "status" text default 'installed' not null,
  "installed_at" text default {NOW},
  "activated_at" text,
  "deactivated_at" text,
  "data" text,
  source TEXT NOT NULL DEFAULT 'config',
  marketplace_version TEXT,
  display_name TEXT,
  description TEXT,
  registry_publisher_did TEXT,
  registry_slug TEXT,
  "mcp_tools_enabled" integer default 0 not null,
  "mcp_tools_consent" text
);
CREATE INDEX idx_plugin_state_source ON _plugin_state (source) WHERE source = 'marketplace';
CREATE INDEX idx_plugin_state_registry ON _plugin_state (source) WHERE source = 'registry';
CREATE TABLE "_plugin_indexes" (
  "plugin_id" text not null,
  "collection" text not null,
  "index_name" text not null,
  "fields" text not null,
  "created_at" text default {NOW},
  constraint "pk_plugin_indexes" primary key ("plugin_id", "collection", "index_name")
);
CREATE TABLE "_emdash_widget_areas" (
  "id" text primary key,
  "name" text not null unique,
  "label" text not null,
  "description" text,
  "created_at" text default CURRENT_TIMESTAMP
);
CREATE TABLE "_emdash_widgets" (
  "id" text primary key,
  "area_id" text not null references "_emdash_widget_areas" ("id") on delete cascade,
  "sort_order" integer default 0 not null,
  "type" text not null,
  "title" text,
  "content" text,
  "menu_name" text,
  "component_id" text,
  "component_props" text,
  "created_at" text default CURRENT_TIMESTAMP
);
CREATE INDEX "idx_widgets_area" on "_emdash_widgets" ("area_id", "sort_order");
CREATE TABLE "users" (
  "id" text primary key,
  "email" text not null unique,
  "name" text,
  "avatar_url" text,
  "role" integer default 10 not null,
  "email_verified" integer default 0 not null,
  "data" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  disabled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX "idx_users_email" on "users" ("email");
CREATE INDEX "idx_users_disabled" on "users" ("disabled");
CREATE TABLE "credentials" (
  "id" text primary key,
  "user_id" text not null,
  "public_key" {BLOB} not null,
  "counter" integer default 0 not null,
  "device_type" text not null,
  "backed_up" integer default 0 not null,
  "transports" text,
  "name" text,
  "created_at" text default {NOW},
  "last_used_at" text default {NOW},
  "algorithm" integer default -7 not null,
  constraint "credentials_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade
);
CREATE INDEX "idx_credentials_user" on "credentials" ("user_id");
CREATE TABLE "auth_tokens" (
  "hash" text primary key,
  "user_id" text,
  "email" text,
  "type" text not null,
  "role" integer,
  "invited_by" text,
  "expires_at" text not null,
  "created_at" text default {NOW},
  constraint "auth_tokens_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade,
  constraint "auth_tokens_invited_by_fk" foreign key ("invited_by") references "users" ("id") on delete set null
);
CREATE INDEX "idx_auth_tokens_email" on "auth_tokens" ("email");
CREATE TABLE "oauth_accounts" (
  "provider" text not null,
  "provider_account_id" text not null,
  "user_id" text not null,
  "created_at" text default {NOW},
  constraint "oauth_accounts_pk" primary key ("provider", "provider_account_id"),
  constraint "oauth_accounts_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade
);
CREATE INDEX "idx_oauth_accounts_user" on "oauth_accounts" ("user_id");
CREATE TABLE "allowed_domains" (
  "domain" text primary key,
  "default_role" integer default 20 not null,
  "enabled" integer default 1 not null,
  "created_at" text default {NOW}
);
CREATE TABLE "auth_challenges" (
  "challenge" text primary key,
  "type" text not null,
  "user_id" text,
  "data" text,
  "expires_at" text not null,
  "created_at" text default {NOW}
);
CREATE INDEX "idx_auth_challenges_expires" on "auth_challenges" ("expires_at");
CREATE TABLE "_emdash_sections" (
  "id" text primary key,
  "slug" text not null unique,
  "title" text not null,
  "description" text,
  "keywords" text,
  "content" text not null,
  "preview_media_id" text,
  "source" text default 'user' not null,
  "theme_id" text,
  "created_at" text default CURRENT_TIMESTAMP,
  "updated_at" text default CURRENT_TIMESTAMP
);
CREATE INDEX "idx_sections_source" on "_emdash_sections" ("source");
CREATE TABLE "_emdash_api_tokens" (
  "id" text primary key,
  "name" text not null,
  "token_hash" text not null unique,
  "prefix" text not null,
  "user_id" text not null,
  "scopes" text not null,
  "expires_at" text,
  "last_used_at" text,
  "created_at" text default {NOW},
  constraint "api_tokens_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade
);
CREATE INDEX "idx_api_tokens_token_hash" on "_emdash_api_tokens" ("token_hash");
CREATE INDEX "idx_api_tokens_user_id" on "_emdash_api_tokens" ("user_id");
CREATE TABLE "_emdash_oauth_tokens" (
  "token_hash" text primary key,
  "token_type" text not null,
  "user_id" text not null,
  "scopes" text not null,
  "client_type" text default 'cli' not null,
  "expires_at" text not null,
  "refresh_token_hash" text,
  "created_at" text default {NOW},
  client_id TEXT,
  constraint "oauth_tokens_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade
);
CREATE INDEX "idx_oauth_tokens_user_id" on "_emdash_oauth_tokens" ("user_id");
CREATE INDEX "idx_oauth_tokens_expires" on "_emdash_oauth_tokens" ("expires_at");
CREATE TABLE "_emdash_device_codes" (
  "device_code" text primary key,
  "user_code" text not null unique,
  "scopes" text not null,
  "user_id" text,
  "status" text default 'pending' not null,
  "expires_at" text not null,
  "interval" integer default 5 not null,
  "created_at" text default {NOW},
  "last_polled_at" text
);
CREATE TABLE "_emdash_authorization_codes" (
  "code_hash" text primary key,
  "client_id" text not null,
  "redirect_uri" text not null,
  "user_id" text not null,
  "scopes" text not null,
  "code_challenge" text not null,
  "code_challenge_method" text default 'S256' not null,
  "resource" text,
  "expires_at" text not null,
  "created_at" text default {NOW},
  constraint "auth_codes_user_fk" foreign key ("user_id") references "users" ("id") on delete cascade
);
CREATE INDEX "idx_auth_codes_expires" on "_emdash_authorization_codes" ("expires_at");
CREATE TABLE "_emdash_seo" (
  "collection" text not null,
  "content_id" text not null,
  "seo_title" text,
  "seo_description" text,
  "seo_image" text,
  "seo_canonical" text,
  "seo_no_index" integer default 0 not null,
  "created_at" text default {NOW} not null,
  "updated_at" text default {NOW} not null,
  constraint "_emdash_seo_pk" primary key ("collection", "content_id")
);
CREATE INDEX idx_emdash_seo_collection ON _emdash_seo (collection);
CREATE TABLE "_emdash_oauth_clients" (
  "id" text primary key,
  "name" text not null,
  "redirect_uris" text not null,
  "scopes" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW}
);
CREATE TABLE "_emdash_cron_tasks" (
  "id" text primary key,
  "plugin_id" text not null,
  "task_name" text not null,
  "schedule" text not null,
  "is_oneshot" integer default 0 not null,
  "data" text,
  "next_run_at" text not null,
  "last_run_at" text,
  "status" text default 'idle' not null,
  "locked_at" text,
  "enabled" integer default 1 not null,
  "created_at" text default {NOW},
  constraint "uq_cron_tasks_plugin_task" unique ("plugin_id", "task_name")
);
CREATE INDEX "idx_cron_tasks_due" on "_emdash_cron_tasks" ("enabled", "status", "next_run_at");
CREATE INDEX "idx_cron_tasks_plugin" on "_emdash_cron_tasks" ("plugin_id");
CREATE TABLE "_emdash_comments" (
  "id" text primary key,
  "collection" text not null,
  "content_id" text not null,
  "parent_id" text references "_emdash_comments" ("id") on delete cascade,
  "author_name" text not null,
  "author_email" text not null,
  "author_user_id" text references "users" ("id") on delete set null,
  "body" text not null,
  "status" text default 'pending' not null,
  "ip_hash" text,
  "user_agent" text,
  "moderation_metadata" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW}
);
CREATE INDEX "idx_comments_content" on "_emdash_comments" ("collection", "content_id", "status");
CREATE INDEX "idx_comments_parent" on "_emdash_comments" ("parent_id");
CREATE INDEX "idx_comments_status" on "_emdash_comments" ("status", "created_at");
CREATE INDEX "idx_comments_author_email" on "_emdash_comments" ("author_email");
CREATE INDEX "idx_comments_author_user" on "_emdash_comments" ("author_user_id");
CREATE INDEX idx_comments_pending ON _emdash_comments (id) WHERE status = 'pending';
CREATE INDEX idx_comments_approved ON _emdash_comments (id) WHERE status = 'approved';
CREATE INDEX idx_comments_spam ON _emdash_comments (id) WHERE status = 'spam';
CREATE INDEX idx_comments_trash ON _emdash_comments (id) WHERE status = 'trash';
CREATE TABLE "_emdash_redirects" (
  "id" text primary key,
  "source" text not null,
  "destination" text not null,
  "type" integer default 301 not null,
  "is_pattern" integer default 0 not null,
  "enabled" integer default 1 not null,
  "hits" integer default 0 not null,
  "last_hit_at" text,
  "group_name" text,
  "auto" integer default 0 not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW}
);
CREATE INDEX "idx_redirects_source" on "_emdash_redirects" ("source");
CREATE INDEX "idx_redirects_enabled" on "_emdash_redirects" ("enabled");
CREATE INDEX "idx_redirects_group" on "_emdash_redirects" ("group_name");
CREATE TABLE "_emdash_404_log" (
  "id" text primary key,
  "path" text not null,
  "referrer" text,
  "user_agent" text,
  "ip" text,
  "created_at" text default {NOW},
  "hits" integer default 1 not null,
  "last_seen_at" text
);
CREATE INDEX "idx_404_log_created" on "_emdash_404_log" ("created_at");
CREATE UNIQUE INDEX "idx_404_log_path_unique" on "_emdash_404_log" ("path");
CREATE INDEX "idx_404_log_last_seen" on "_emdash_404_log" ("last_seen_at");
CREATE TABLE "_emdash_rate_limits" (
  "key" text not null,
  "window" text not null,
  "count" integer default 1 not null,
  constraint "pk_rate_limits" primary key ("key", "window")
);
CREATE INDEX "idx_rate_limits_window" on "_emdash_rate_limits" ("window");
CREATE TABLE "content_taxonomies" (
  "collection" text not null,
  "entry_id" text not null,
  "taxonomy_id" text not null,
  "status" TEXT,
  "scheduled_at" TEXT,
  "deleted_at" TEXT,
  "locale" TEXT,
  "published_at" TEXT,
  "created_at" TEXT,
  constraint "content_taxonomies_pk" primary key ("collection", "entry_id", "taxonomy_id")
);
CREATE INDEX idx_content_taxonomies_term ON content_taxonomies(taxonomy_id);
CREATE INDEX "idx_content_taxonomies_pub" ON content_taxonomies (taxonomy_id, collection, deleted_at, published_at DESC, entry_id DESC);
CREATE INDEX "idx_content_taxonomies_crt" ON content_taxonomies (taxonomy_id, collection, deleted_at, created_at DESC, entry_id DESC);
CREATE INDEX "idx_content_taxonomies_loc_pub" ON content_taxonomies (taxonomy_id, collection, deleted_at, locale, published_at DESC, entry_id DESC);
CREATE INDEX "idx_content_taxonomies_loc_crt" ON content_taxonomies (taxonomy_id, collection, deleted_at, locale, created_at DESC, entry_id DESC);
CREATE TABLE "_emdash_menu_items" (
  "id" text primary key,
  "menu_id" text not null,
  "parent_id" text,
  "sort_order" integer default 0 not null,
  "type" text not null,
  "reference_collection" text,
  "reference_id" text,
  "custom_url" text,
  "label" text not null,
  "title_attr" text,
  "target" text,
  "css_classes" text,
  "created_at" text default {NOW},
  "locale" text default 'en' not null,
  "translation_group" text
);
CREATE INDEX "idx_menu_items_menu" on "_emdash_menu_items" ("menu_id", "sort_order");
CREATE INDEX "idx_menu_items_parent" on "_emdash_menu_items" ("parent_id");
CREATE INDEX "idx__emdash_menu_items_locale" on "_emdash_menu_items" ("locale");
CREATE INDEX "idx__emdash_menu_items_translation_group" on "_emdash_menu_items" ("translation_group");
CREATE TABLE "_emdash_menus" (
  "id" text primary key,
  "name" text not null,
  "label" text not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  "locale" text default 'en' not null,
  "translation_group" text,
  constraint "_emdash_menus_name_locale_unique" unique ("name", "locale")
);
CREATE INDEX "idx__emdash_menus_locale" on "_emdash_menus" ("locale");
CREATE INDEX "idx__emdash_menus_translation_group" on "_emdash_menus" ("translation_group");
CREATE TABLE "taxonomies" (
  "id" text primary key,
  "name" text not null,
  "slug" text not null,
  "label" text not null,
  "parent_id" text,
  "data" text,
  "locale" text default 'en' not null,
  "translation_group" text,
  constraint "taxonomies_name_slug_locale_unique" unique ("name", "slug", "locale"),
  constraint "taxonomies_parent_fk" foreign key ("parent_id") references "taxonomies" ("id") on delete set null
);
CREATE INDEX "idx_taxonomies_locale" on "taxonomies" ("locale");
CREATE INDEX "idx_taxonomies_translation_group" on "taxonomies" ("translation_group");
CREATE INDEX "idx_taxonomies_parent" on "taxonomies" ("parent_id");
CREATE INDEX "idx_taxonomies_name_locale" on "taxonomies" ("name", "locale");
CREATE TABLE "_emdash_taxonomy_defs" (
  "id" text primary key,
  "name" text not null,
  "label" text not null,
  "label_singular" text,
  "hierarchical" integer default 0,
  "collections" text,
  "created_at" text default {NOW},
  "locale" text default 'en' not null,
  "translation_group" text,
  constraint "_emdash_taxonomy_defs_name_locale_unique" unique ("name", "locale")
);
CREATE INDEX "idx__emdash_taxonomy_defs_locale" on "_emdash_taxonomy_defs" ("locale");
CREATE INDEX "idx__emdash_taxonomy_defs_translation_group" on "_emdash_taxonomy_defs" ("translation_group");
CREATE TABLE "_emdash_content_bylines" (
  "id" text primary key,
  "collection_slug" text not null,
  "content_id" text not null,
  "byline_id" text not null,
  "sort_order" integer default 0 not null,
  "role_label" text,
  "created_at" text default {NOW},
  constraint "content_bylines_unique" unique ("collection_slug", "content_id", "byline_id")
);
CREATE INDEX "idx_content_bylines_content" on "_emdash_content_bylines" ("collection_slug", "content_id", "sort_order");
CREATE INDEX "idx_content_bylines_byline" on "_emdash_content_bylines" ("byline_id");
CREATE TABLE "_emdash_bylines" (
  "id" text primary key,
  "slug" text not null,
  "display_name" text not null,
  "bio" text,
  "avatar_media_id" text references "media" ("id") on delete set null,
  "website_url" text,
  "user_id" text references "users" ("id") on delete set null,
  "is_guest" integer default 0 not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  "locale" text default 'en' not null,
  "translation_group" text,
  constraint "_emdash_bylines_slug_locale_unique" unique ("slug", "locale")
);
CREATE INDEX "idx_bylines_slug" on "_emdash_bylines" ("slug");
CREATE INDEX "idx_bylines_display_name" on "_emdash_bylines" ("display_name");
CREATE UNIQUE INDEX "idx_bylines_user_id_locale_unique" ON "_emdash_bylines" (user_id, locale) WHERE user_id IS NOT NULL;
CREATE INDEX "idx__emdash_bylines_locale" on "_emdash_bylines" ("locale");
CREATE INDEX "idx__emdash_bylines_translation_group" on "_emdash_bylines" ("translation_group");
CREATE UNIQUE INDEX "idx_bylines_group_locale_unique" ON "_emdash_bylines" (translation_group, locale) WHERE translation_group IS NOT NULL;
CREATE TABLE "_emdash_byline_fields" (
  "id" text primary key,
  "slug" text not null unique,
  "label" text not null,
  "type" text not null,
  "required" integer default 0 not null,
  "translatable" integer default 1 not null,
  "validation" text,
  "sort_order" integer default 0 not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW}
);
CREATE INDEX "idx__emdash_byline_fields_sort_order" on "_emdash_byline_fields" ("sort_order");
CREATE TABLE "_emdash_byline_field_values" (
  "byline_id" text not null references "_emdash_bylines" ("id") on delete cascade,
  "field_id" text not null references "_emdash_byline_fields" ("id") on delete cascade,
  "value" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  constraint "_emdash_byline_field_values_pk" primary key ("byline_id", "field_id")
);
CREATE INDEX "idx__emdash_byline_field_values_byline" on "_emdash_byline_field_values" ("byline_id");
CREATE INDEX "idx__emdash_byline_field_values_field" on "_emdash_byline_field_values" ("field_id");
CREATE TABLE "_emdash_byline_field_group_values" (
  "translation_group" text not null,
  "field_id" text not null references "_emdash_byline_fields" ("id") on delete cascade,
  "value" text,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  constraint "_emdash_byline_field_group_values_pk" primary key ("translation_group", "field_id")
);
CREATE INDEX "idx__emdash_byline_field_group_values_group" on "_emdash_byline_field_group_values" ("translation_group");
CREATE INDEX "idx__emdash_byline_field_group_values_field" on "_emdash_byline_field_group_values" ("field_id");
CREATE TABLE "_emdash_relations" (
  "id" text primary key,
  "name" text not null,
  "parent_collection" text not null,
  "child_collection" text not null,
  "parent_label" text not null,
  "child_label" text not null,
  "locale" text default 'en' not null,
  "translation_group" text not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  constraint "_emdash_relations_name_locale_unique" unique ("name", "locale")
);
CREATE INDEX "idx__emdash_relations_locale" on "_emdash_relations" ("locale");
CREATE INDEX "idx__emdash_relations_translation_group" on "_emdash_relations" ("translation_group");
CREATE INDEX "idx__emdash_relations_parent_collection" on "_emdash_relations" ("parent_collection");
CREATE INDEX "idx__emdash_relations_child_collection" on "_emdash_relations" ("child_collection");
CREATE UNIQUE INDEX "idx__emdash_relations_group_locale_unique" on "_emdash_relations" ("translation_group", "locale");
CREATE TABLE "_emdash_content_references" (
  "id" text primary key,
  "relation_group" text not null,
  "parent_group" text not null,
  "child_group" text not null,
  "sort_order" integer default 0 not null,
  "created_at" text default {NOW},
  constraint "content_references_unique" unique ("relation_group", "parent_group", "child_group")
);
CREATE INDEX "idx__emdash_content_references_parent" on "_emdash_content_references" ("parent_group", "relation_group", "sort_order");
CREATE INDEX "idx__emdash_content_references_child" on "_emdash_content_references" ("child_group", "relation_group");
CREATE INDEX "idx__emdash_content_references_relation" on "_emdash_content_references" ("relation_group");
CREATE TABLE "_emdash_comment_reactions" (
  "id" text primary key,
  "comment_id" text not null references "_emdash_comments" ("id") on delete cascade,
  "reaction" text default 'like' not null,
  "voter_hash" text not null,
  "created_at" text default {NOW}
);
CREATE UNIQUE INDEX "idx_comment_reactions_unique" on "_emdash_comment_reactions" ("comment_id", "voter_hash", "reaction");
CREATE INDEX "idx_comment_reactions_comment" on "_emdash_comment_reactions" ("comment_id");
CREATE INDEX "idx_comment_reactions_voter" on "_emdash_comment_reactions" ("voter_hash", "created_at");
CREATE TABLE "_emdash_media_usage_sources" (
  "source_key" text primary key,
  "source_type" text not null,
  "collection_slug" text,
  "content_id" text,
  "source_variant" text not null,
  "locale" text,
  "translation_group" text,
  "content_slug" text,
  "content_title" text,
  "content_status" text,
  "content_scheduled_at" text,
  "content_deleted_at" text,
  "revision_id" text,
  "current_generation" text not null,
  "schema_version" integer default 1 not null,
  "indexed_at" text default {NOW} not null,
  "created_at" text default {NOW},
  "updated_at" text default {NOW},
  "source_updated_at" text,
  "source_version" integer,
  "source_fingerprint" text,
  "source_completeness" text default 'unknown' not null,
  "last_attempted_at" text,
  "last_error_code" text
);
CREATE INDEX "idx__emdash_media_usage_sources_content" on "_emdash_media_usage_sources" ("source_type", "collection_slug", "content_id");
CREATE INDEX "idx__emdash_media_usage_sources_variant" on "_emdash_media_usage_sources" ("source_type", "source_variant");
CREATE INDEX "idx__emdash_media_usage_sources_locale" on "_emdash_media_usage_sources" ("collection_slug", "locale");
CREATE INDEX "idx__emdash_media_usage_sources_deleted" on "_emdash_media_usage_sources" ("content_deleted_at");
CREATE INDEX "idx__emdash_media_usage_sources_translation_group" on "_emdash_media_usage_sources" ("collection_slug", "translation_group");
CREATE INDEX "idx__emdash_media_usage_sources_completeness" on "_emdash_media_usage_sources" ("source_type", "collection_slug", "source_completeness");
CREATE INDEX "idx__emdash_media_usage_sources_fingerprint" on "_emdash_media_usage_sources" ("source_fingerprint");
CREATE TABLE "_emdash_media_usage" (
  "id" text primary key,
  "source_key" text not null,
  "generation" text not null,
  "field_slug" text not null,
  "field_path" text not null,
  "occurrence_index" integer default 0 not null,
  "reference_type" text not null,
  "media_id" text,
  "provider" text default 'local' not null,
  "provider_asset_id" text not null,
  "media_kind" text,
  "mime_type" text,
  "created_at" text default {NOW}
);
CREATE UNIQUE INDEX "idx__emdash_media_usage_unique_occurrence" on "_emdash_media_usage" ("source_key", "generation", "field_path", "occurrence_index");
CREATE INDEX "idx__emdash_media_usage_provider_asset" on "_emdash_media_usage" ("provider", "provider_asset_id");
CREATE INDEX "idx__emdash_media_usage_source_generation" on "_emdash_media_usage" ("source_key", "generation");
CREATE INDEX "idx__emdash_media_usage_media_source_generation" on "_emdash_media_usage" ("media_id", "source_key", "generation");
CREATE TABLE "_emdash_media_usage_index_status" (
  "adapter_id" text not null,
  "scope_type" text not null,
  "scope_key" text not null,
  "status" text not null,
  "schema_version" integer default 1 not null,
  "started_at" text,
  "completed_at" text,
  "cursor" text,
  "indexed_source_count" integer default 0 not null,
  "failed_source_count" integer default 0 not null,
  "last_error_code" text,
  "updated_at" text default {NOW} not null,
  constraint "_emdash_media_usage_index_status_pk" primary key ("adapter_id", "scope_type", "scope_key")
);
CREATE INDEX "idx__emdash_media_usage_index_status_status" on "_emdash_media_usage_index_status" ("adapter_id", "status");
CREATE TABLE "_emdash_media_upload_attempts" (
  "storage_key" text primary key,
  "media_id" text not null,
  "status" text default 'active' not null,
  "created_at" text default {NOW} not null,
  "updated_at" text default {NOW} not null
);
CREATE INDEX "idx_media_upload_attempts_media_id" on "_emdash_media_upload_attempts" ("media_id");
CREATE INDEX "idx_media_upload_attempts_status_created_at" on "_emdash_media_upload_attempts" ("status", "created_at");)SQL";

}  // namespace

std::string_view BaselineTables() { return kBaseline; }

}  // namespace ps::store::emdash

// What the host runs to give an empty database EmDash's schema: the schema text of
// emdash_schema_sql.cc in the dialect's spelling, the rows EmDash's migrations seed, and the
// names of those migrations, which migrations.cc records so that EmDash finds nothing to do.
#include "store/emdash_schema.h"

#include "store/emdash_schema_sql.h"

namespace ps::store::emdash {
namespace {

// Rows EmDash's migrations seed.
constexpr std::string_view kSeed = R"SQL(
INSERT INTO "_emdash_migrations_lock" ("id", "is_locked") VALUES ('migration_lock', 0);
INSERT INTO "options" ("name", "value") VALUES ('byline_fields_version', '0');
INSERT INTO "_emdash_taxonomy_defs" ("id", "name", "label", "label_singular", "hierarchical", "collections", "locale", "translation_group")
  VALUES ('taxdef_category', 'category', 'Categories', 'Category', 1, '["posts"]', 'en', 'taxdef_category');
INSERT INTO "_emdash_taxonomy_defs" ("id", "name", "label", "label_singular", "hierarchical", "collections", "locale", "translation_group")
  VALUES ('taxdef_tag', 'tag', 'Tags', 'Tag', 0, '["posts"]', 'en', 'taxdef_tag');
)SQL";

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

const std::vector<std::string_view>& BaselineMigrations() {
  static const std::vector<std::string_view> kNames = {"001_initial",
                                                       "002_media_status",
                                                       "003_schema_registry",
                                                       "004_plugins",
                                                       "005_menus",
                                                       "006_taxonomy_defs",
                                                       "007_widgets",
                                                       "008_auth",
                                                       "009_user_disabled",
                                                       "011_sections",
                                                       "012_search",
                                                       "013_scheduled_publishing",
                                                       "014_draft_revisions",
                                                       "015_indexes",
                                                       "016_api_tokens",
                                                       "017_authorization_codes",
                                                       "018_seo",
                                                       "019_i18n",
                                                       "020_collection_url_pattern",
                                                       "021_remove_section_categories",
                                                       "022_marketplace_plugin_state",
                                                       "023_plugin_metadata",
                                                       "024_media_placeholders",
                                                       "025_oauth_clients",
                                                       "026_cron_tasks",
                                                       "027_comments",
                                                       "028_drop_author_url",
                                                       "029_redirects",
                                                       "030_widen_scheduled_index",
                                                       "031_bylines",
                                                       "032_rate_limits",
                                                       "033_optimize_content_indexes",
                                                       "034_published_at_index",
                                                       "035_bounded_404_log",
                                                       "036_i18n_menus_and_taxonomies",
                                                       "037_credential_algorithm",
                                                       "038_registry_plugin_state",
                                                       "039_fix_fts5_triggers",
                                                       "040_byline_i18n",
                                                       "041_content_locale_list_index",
                                                       "042_byline_fields",
                                                       "043_content_references",
                                                       "044_comment_reactions",
                                                       "045_taxonomy_parent_group",
                                                       "046_media_usage_index",
                                                       "047_restore_taxonomy_parent_index",
                                                       "048_restore_content_taxonomies_term_index",
                                                       "049_taxonomies_name_locale_index",
                                                       "050_media_usage_index_status",
                                                       "051_content_taxonomies_denorm",
                                                       "052_media_usage_read_index",
                                                       "053_plugin_mcp_tools",
                                                       "054_media_upload_attempts"};
  return kNames;
}

std::string BaselineDdl(const Dialect& dialect) {
  const bool pg = dialect.name() == "postgres";
  std::string s(BaselineTables());
  s = Replace(std::move(s), "{NOW}", pg ? "CURRENT_TIMESTAMP" : "(datetime('now'))");
  s = Replace(std::move(s), "{BLOB}", pg ? "bytea" : "blob");
  if (pg) {
    // EmDash rebuilt users as users_new and renamed it; PostgreSQL kept the constraints' names.
    s += "ALTER TABLE \"users\" RENAME CONSTRAINT \"users_pkey\" TO \"users_new_pkey\";\n"
         "ALTER TABLE \"users\" RENAME CONSTRAINT \"users_email_key\" TO "
         "\"users_new_email_key\";\n";
  }
  return s + std::string(kSeed);
}

}  // namespace ps::store::emdash

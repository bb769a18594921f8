// The remaining methods: taxonomy/* (taxonomies:read), users/* (users:read), email/send
// (email:send), log (no capability), http/fetch (network:request; delegated to http/).
#include <spdlog/spdlog.h>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "store/site_schema.h"

namespace ps::bridge {
namespace {

// ---- taxonomies (§3.4) --------------------------------------------------------------------

json::array JsonStrings(const store::Value& v) {
  json::array out;
  const std::string* s = SqlText(v);
  if (!s) return out;
  auto parsed = ParseJson(*s);
  if (!parsed.ok() || !parsed->is_array()) return out;
  for (const auto& e : parsed->get_array())
    if (e.is_string()) out.push_back(e);
  return out;
}

json::object Term(const store::Rows& rows, size_t r) {
  const auto& row = rows.rows[r];
  json::object t;
  t["id"] = FromSql(row[0]);
  t["taxonomy"] = FromSql(row[1]);
  t["slug"] = FromSql(row[2]);
  t["label"] = FromSql(row[3]);
  t["parentId"] = FromSql(row[4]);
  json::value data = nullptr;
  if (const std::string* s = SqlText(row[5])) {
    auto parsed = ParseJson(*s);
    if (parsed.ok() && parsed->is_object()) data = std::move(parsed).value();
  }
  t["data"] = std::move(data);
  t["locale"] = FromSql(row[6]);
  t["translationGroup"] = FromSql(row[7]);
  return t;
}

constexpr const char* kTermColumns =
    "taxonomies.id, taxonomies.name, taxonomies.slug, taxonomies.label, taxonomies.parent_id, "
    "taxonomies.data, taxonomies.locale, taxonomies.translation_group";

Result<CallResult> TaxonomyList(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kTaxonomiesRead));
  PS_ASSIGN(auto locale, params::OptionalString(c.params, "locale"));
  std::string sql =
      "SELECT name, label, label_singular, hierarchical, collections, locale FROM "
      "_emdash_taxonomy_defs";
  std::vector<store::Value> args;
  if (locale) {
    sql += " WHERE locale = ?";
    args.emplace_back(*locale);
  }
  sql += " ORDER BY name ASC";
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(sql, args));
  json::array out;
  for (const auto& row : rows.rows) {
    json::object d;
    d["name"] = FromSql(row[0]);
    d["label"] = FromSql(row[1]);
    d["labelSingular"] = FromSql(row[2]);
    auto* h = std::get_if<int64_t>(&row[3]);
    d["hierarchical"] = h && *h == 1;
    d["collections"] = JsonStrings(row[4]);
    d["locale"] = FromSql(row[5]);
    out.emplace_back(std::move(d));
  }
  return Value(std::move(out));
}

Result<CallResult> TaxonomyTerms(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kTaxonomiesRead));
  PS_ASSIGN(std::string taxonomy, params::RequiredString(c.params, "taxonomy"));
  PS_ASSIGN(auto locale, params::OptionalString(c.params, "locale"));
  std::string sql = std::string("SELECT ") + kTermColumns + " FROM taxonomies WHERE name = ?";
  std::vector<store::Value> args = {taxonomy};
  if (locale) {
    sql += " AND locale = ?";
    args.emplace_back(*locale);
  }
  // taxonomies.sort_order exists only on EmDash's main branch; released sites order by label.
  sql += c.db.schema().taxonomy_sort_order() ? " ORDER BY sort_order ASC, label ASC, id ASC"
                                             : " ORDER BY label ASC, id ASC";
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(sql, args));
  json::array out;
  for (size_t i = 0; i < rows.size(); ++i) out.emplace_back(Term(rows, i));
  return Value(std::move(out));
}

Result<CallResult> TaxonomyEntryTerms(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kTaxonomiesRead));
  PS_ASSIGN(std::string collection, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(std::string entry, params::RequiredString(c.params, "entryId"));
  PS_ASSIGN(auto taxonomy, params::OptionalString(c.params, "taxonomy"));
  PS_ASSIGN(auto locale, params::OptionalString(c.params, "locale"));
  std::string sql = std::string("SELECT ") + kTermColumns +
                    " FROM content_taxonomies JOIN taxonomies ON taxonomies.translation_group = "
                    "content_taxonomies.taxonomy_id WHERE content_taxonomies.collection = ? AND "
                    "content_taxonomies.entry_id = ?";
  std::vector<store::Value> args = {collection, entry};
  if (taxonomy) {
    sql += " AND taxonomies.name = ?";
    args.emplace_back(*taxonomy);
  }
  if (locale) {
    sql += " AND taxonomies.locale = ?";
    args.emplace_back(*locale);
  }
  // EmDash orders by locale only; the id tie-breaker makes the order deterministic.
  sql += " ORDER BY taxonomies.locale ASC, taxonomies.id ASC";
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(sql, args));
  json::array out;
  for (size_t i = 0; i < rows.size(); ++i) out.emplace_back(Term(rows, i));
  return Value(std::move(out));
}

// ---- users (§3.8) -------------------------------------------------------------------------

constexpr const char* kUserColumns = "id, email, name, role, created_at";

json::object User(const std::vector<store::Value>& row) {
  json::object u;
  u["id"] = FromSql(row[0]);
  u["email"] = FromSql(row[1]);
  u["name"] = FromSql(row[2]);
  u["role"] = FromSql(row[3]);
  u["createdAt"] = FromSql(row[4]);
  return u;
}

Result<CallResult> UsersGet(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kUsersRead));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows,
            conn->Query(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?", {id}));
  if (rows.empty()) return Value(nullptr);
  return Value(User(rows.rows[0]));
}

Result<CallResult> UsersGetByEmail(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kUsersRead));
  PS_ASSIGN(std::string email, params::RequiredString(c.params, "email"));
  for (auto& ch : email) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  auto conn = c.db.Acquire();
  PS_ASSIGN(
      auto rows,
      conn->Query(std::string("SELECT ") + kUserColumns + " FROM users WHERE email = ?", {email}));
  if (rows.empty()) return Value(nullptr);
  return Value(User(rows.rows[0]));
}

Result<CallResult> UsersList(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kUsersRead));
  int64_t limit = params::ListLimit(c.params);
  std::string sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE 1 = 1";
  std::vector<store::Value> args;
  if (auto* role = c.params.if_contains("role")) {
    double n = params::JsNumber(role);
    sql += " AND role = ?";
    args.emplace_back(n);
  }
  AppendIdPage(c.params, limit, &sql, &args);
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(sql, args));
  return Value(IdPage(
      rows, limit, [&](size_t i) { return json::value(User(rows.rows[i])); }, "nextCursor", false));
}

// ---- email (§3.7) -------------------------------------------------------------------------

Result<CallResult> EmailSend(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kEmailSend));
  const json::value* m = c.params.if_contains("message");
  Status bad = InvalidArgument("email/send requires message with to, subject, and text");
  if (!m || !m->is_object()) return bad;
  const auto& msg = m->get_object();
  for (const char* k : {"to", "subject", "text"}) {
    auto* v = msg.if_contains(k);
    if (!v || !v->is_string()) return bad;
  }
  if (auto* h = msg.if_contains("html"); h && !h->is_string()) return bad;
  if (!c.options.email) {
    return InvalidArgument("Email is not configured. No email provider is available.");
  }
  for (const char* k : {"to", "subject", "text"}) {
    if (msg.at(k).get_string().empty()) {
      return InvalidArgument(std::string("Invalid email message: '") + k +
                             "' is required and must be a string");
    }
  }
  PS_TRY(c.options.email(msg, c.grant.plugin_id));
  return Value(nullptr);
}

// ---- log (§3.9) ---------------------------------------------------------------------------

Result<CallResult> Log(CallContext& c) {
  const json::value* lv = c.params.if_contains("level");
  LogLevel level;
  std::string name = lv && lv->is_string() ? std::string(lv->get_string()) : "";
  if (name == "debug") {
    level = LogLevel::kDebug;
  } else if (name == "info") {
    level = LogLevel::kInfo;
  } else if (name == "warn") {
    level = LogLevel::kWarn;
  } else if (name == "error") {
    level = LogLevel::kError;
  } else {
    return InvalidArgument("Parameter level must be one of: debug, info, warn, error");
  }
  PS_ASSIGN(std::string msg, params::RequiredString(c.params, "msg"));
  const json::value* data = c.params.if_contains("data");
  json::value d = data ? *data : json::value(nullptr);
  if (c.options.log) {
    c.options.log(c.grant.plugin_id, level, msg, d);
  } else {
    std::string line =
        "[plugin:" + c.grant.plugin_id + "] " + msg + " " + (data ? Stringify(d) : "");
    switch (level) {
      case LogLevel::kDebug:
        spdlog::debug(line);
        break;
      case LogLevel::kInfo:
        spdlog::info(line);
        break;
      case LogLevel::kWarn:
        spdlog::warn(line);
        break;
      case LogLevel::kError:
        spdlog::error(line);
        break;
    }
  }
  return Value(nullptr);
}

// ---- http/fetch (§3.6; policy lives in http/) ----------------------------------------------

Result<CallResult> HttpFetch(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kNetworkRequest));
  PS_ASSIGN(std::string url, params::RequiredString(c.params, "url"));
  (void)url;
  if (!c.options.http) {
    return Status(Code::kUnavailable, "Outbound HTTP is not available on this host");
  }
  auto deadline = std::chrono::steady_clock::time_point::max();
  if (c.invocation) {
    // Every ctx.http.fetch counts, refused or not, so a plugin cannot probe without limit.
    if (++c.invocation->subrequests > c.invocation->subrequest_limit) {
      return Status(Code::kTooLarge, "Plugin " + c.grant.plugin_id + " exceeded the limit of " +
                                         std::to_string(c.invocation->subrequest_limit) +
                                         " subrequests in one invocation")
          .With(ErrorCode::kSubrequestLimitExceeded);
    }
    deadline = c.invocation->deadline;
  }
  PS_ASSIGN(json::value response,
            c.options.http(FetchRequest{c.grant.plugin_id, c.grant.capabilities,
                                        c.grant.allowed_hosts, c.params, deadline}));
  return Value(std::move(response));
}

}  // namespace

void AddDirectoryMethods(MethodTable& t) {
  t["taxonomy/list"] = TaxonomyList;
  t["taxonomy/terms"] = TaxonomyTerms;
  t["taxonomy/entryTerms"] = TaxonomyEntryTerms;
  t["users/get"] = UsersGet;
  t["users/getByEmail"] = UsersGetByEmail;
  t["users/list"] = UsersList;
  t["email/send"] = EmailSend;
  t["log"] = Log;
  t["http/fetch"] = HttpFetch;
}

}  // namespace ps::bridge

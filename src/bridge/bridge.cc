#include "bridge/bridge.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <set>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "common/char_class.h"
#include "common/ids.h"

namespace ps::bridge {
namespace {

const MethodTable& Table() {
  static const MethodTable kTable = [] {
    MethodTable t;
    AddKvStorageMethods(t);
    AddContentMethods(t);
    AddMediaMethods(t);
    AddDirectoryMethods(t);
    return t;
  }();
  return kTable;
}

std::string ErrorBody(const std::string& message) {
  json::object o;
  o["error"] = message;
  return Stringify(o);
}

// ^[a-z][a-z0-9_-]*$, ^[a-zA-Z][a-zA-Z0-9_-]*$ and ^[a-zA-Z][a-zA-Z0-9_]*$: what may become part
// of an index name.
bool IsPluginId(std::string_view s) {
  return IsWord(s, kLower, kLower | kDigit | kUnderscore | kHyphen);
}
bool IsCollection(std::string_view s) {
  return IsWord(s, kLower | kUpper, kLower | kUpper | kDigit | kUnderscore | kHyphen);
}
bool IsField(std::string_view s) {
  return IsWord(s, kLower | kUpper, kLower | kUpper | kDigit | kUnderscore);
}

}  // namespace

store::Value ToSql(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return std::monostate{};
    case json::kind::bool_:
      return int64_t(v.get_bool() ? 1 : 0);
    case json::kind::int64:
      return v.get_int64();
    case json::kind::uint64:
      return double(v.get_uint64());
    case json::kind::double_:
      return v.get_double();
    case json::kind::string:
      return std::string(v.get_string());
    default:
      return Stringify(v);
  }
}

json::value FromSql(const store::Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return json::string(*s);
  return nullptr;
}

const std::string* SqlText(const store::Value& v) { return std::get_if<std::string>(&v); }

std::string Now() { return NowIso(); }

void AppendIdPage(const json::object& params, int64_t limit, std::string* sql,
                  std::vector<store::Value>* args) {
  if (auto* cur = params.if_contains("cursor"); cur && cur->is_string()) {
    *sql += " AND id < ?";
    args->emplace_back(std::string(cur->get_string()));
  }
  *sql += " ORDER BY id DESC LIMIT ?";
  args->emplace_back(limit + 1);
}

json::object IdPage(const store::Rows& rows, int64_t limit,
                    const std::function<json::value(size_t row)>& map, const char* cursor_key,
                    bool with_has_more) {
  bool has_more = int64_t(rows.size()) > limit;
  size_t n = std::min<size_t>(rows.size(), size_t(limit));
  json::array items;
  for (size_t i = 0; i < n; ++i) items.push_back(map(i));
  json::object out;
  if (has_more && n > 0) out[cursor_key] = items.back().get_object().at("id");
  out["items"] = std::move(items);
  if (with_has_more) out["hasMore"] = has_more;
  return out;
}

std::string LikePrefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  out += '%';
  return out;
}

Bridge::Bridge(store::Database& db, TokenAuthority tokens, BridgeOptions options)
    : db_(db), tokens_(std::move(tokens)), options_(std::move(options)) {}

Bridge::~Bridge() = default;

Grant Bridge::GrantFor(const manifest::Manifest& m) {
  Grant g;
  g.plugin_id = m.id;
  g.version = m.version;
  g.capabilities = m.capabilities;
  g.allowed_hosts = m.allowed_hosts;
  g.storage_collections = m.StorageCollectionNames();
  return g;
}

void Bridge::RegisterPlugin(const manifest::Manifest& m) {
  std::map<std::string, std::vector<std::string>> fields;
  for (const auto& c : m.storage) fields[c.name] = c.IndexedFields();
  {
    std::lock_guard<std::mutex> lock(mu_);
    indexes_[{m.id, m.version}] = std::move(fields);
  }

  // Dynamic expression indexes (bridge.md §5.6). Failures are logged, never thrown: a plugin
  // whose index cannot be built still works, only slower.
  if (!IsPluginId(m.id) || m.id.size() > 128) return;
  auto conn = db_.Acquire();
  std::set<std::string> declared;
  for (const auto& c : m.storage) {
    if (!IsCollection(c.name) || c.name.size() > 128) continue;
    auto make = [&](const std::vector<std::string>& flds, bool unique) {
      if (flds.empty()) return;
      for (const auto& f : flds)
        if (!IsField(f) || f.size() > 128) return;
      std::string name = std::string(unique ? "uidx" : "idx") + "_plugin_" + m.id + "_" + c.name;
      std::string exprs;
      for (const auto& f : flds) {
        name += "_" + f;
        exprs += ", " + db_.dialect().JsonText(f);
      }
      if (name.size() > 128) name.resize(128);
      name = store::FitIdentifier(name, db_.dialect());  // PostgreSQL keeps 63 bytes
      std::string sql = std::string("CREATE ") + (unique ? "UNIQUE " : "") +
                        "INDEX IF NOT EXISTS \"" + name +
                        "\" ON _plugin_storage(plugin_id, collection" + exprs + ")";
      auto st = conn->ExecScript(sql);
      if (!st.ok()) {
        spdlog::warn("plugin {}: could not create storage index {}: {}", m.id, name, st.message());
        return;
      }
      json::array fa;
      for (const auto& f : flds) fa.emplace_back(f);
      auto rec = conn->Exec(
          "INSERT INTO _plugin_indexes (plugin_id, collection, index_name, fields, created_at) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT (plugin_id, collection, index_name) DO UPDATE SET "
          "fields = excluded.fields",
          {m.id, c.name, name, Stringify(fa), Now()});
      if (!rec.ok()) spdlog::warn("plugin {}: {}", m.id, rec.status().message());
      declared.insert(name);
    };
    // A field set listed in both lists is created only as unique.
    for (const auto& u : c.unique_indexes) make(u, true);
    for (const auto& i : c.indexes) {
      bool also_unique = false;
      for (const auto& u : c.unique_indexes) also_unique |= (u == i);
      if (!also_unique) make(i, false);
    }
  }
  // Drop tracked indexes this version no longer declares.
  auto tracked =
      conn->Query("SELECT collection, index_name FROM _plugin_indexes WHERE plugin_id = ?", {m.id});
  if (!tracked.ok()) return;
  for (const auto& row : tracked->rows) {
    const std::string& name = std::get<std::string>(row[1]);
    if (declared.count(name)) continue;
    auto st = conn->ExecScript("DROP INDEX IF EXISTS \"" + name + "\"");
    if (st.ok()) {
      (void)conn->Exec(
          "DELETE FROM _plugin_indexes WHERE plugin_id = ? AND collection = ? AND index_name = ?",
          {m.id, row[0], name});
    }
  }
}

std::map<std::string, std::map<std::string, uint64_t>> Bridge::CallCounts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return call_counts_;
}

void Bridge::UnregisterPlugin(const std::string& id, const std::string& version) {
  std::lock_guard<std::mutex> lock(mu_);
  indexes_.erase({id, version});
}

std::vector<std::string> Bridge::IndexedFields(const Grant& g, const std::string& collection) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = indexes_.find({g.plugin_id, g.version});
  if (it == indexes_.end()) return {};
  auto c = it->second.find(collection);
  return c == it->second.end() ? std::vector<std::string>{} : c->second;
}

Status Bridge::DeletePluginData(const std::string& id) {
  auto conn = db_.Acquire();
  auto idx = conn->Query("SELECT index_name FROM _plugin_indexes WHERE plugin_id = ?", {id});
  if (!idx.ok()) return idx.status();
  return conn->Transaction([&]() -> Status {
    for (const auto& row : idx->rows) {
      const std::string* name = std::get_if<std::string>(&row[0]);
      if (!name) continue;
      std::string quoted;
      for (char c : *name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      PS_TRY(conn->ExecScript("DROP INDEX IF EXISTS \"" + quoted + "\""));
    }
    PS_ASSIGN(int64_t a, conn->Exec("DELETE FROM _plugin_indexes WHERE plugin_id = ?", {id}));
    PS_ASSIGN(int64_t b, conn->Exec("DELETE FROM _plugin_storage WHERE plugin_id = ?", {id}));
    spdlog::info("plugin {}: deleted its data ({} KV/storage rows, {} indexes)", id, b, a);
    return Status::Ok();
  });
}

Result<CallResult> Bridge::Call(const Grant& grant, std::string_view method,
                                const json::object& params, Invocation* invocation) {
  const auto& table = Table();
  auto it = table.find(std::string(method));
  if (it == table.end()) return InvalidArgument("Unknown bridge method: " + std::string(method));
  if (invocation && ++invocation->bridge_calls > invocation->bridge_call_limit) {
    return Status(Code::kTooLarge, "Plugin " + grant.plugin_id + " exceeded the limit of " +
                                       std::to_string(invocation->bridge_call_limit) +
                                       " bridge calls in one invocation")
        .With(ErrorCode::kBridgeCallLimitExceeded);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++call_counts_[grant.plugin_id][it->first];
  }
  caps::CapabilitySet caps(grant.capabilities);
  CallContext ctx{
      *this,      grant,
      caps,       params,
      db_,        options_,
      invocation, [this, &grant](const std::string& c) {
                    return IndexedFields(grant, c); }};
  return it->second(ctx);
}

Reply Bridge::Envelope(const Result<CallResult>& r) {
  if (r.ok()) {
    if (!r->value) return {200, "{}"};
    json::object o;
    o["result"] = *r->value;
    return {200, Stringify(o)};
  }
  const Status& st = r.status();
  // Only the content-write fence's two codes get the 503 object (bridge.md §2.3).
  if (st.code() == Code::kUnavailable &&
      (st.error_code() == ErrorCode::kMediaUsageActivationInProgress ||
       st.error_code() == ErrorCode::kMediaUsageActivationCheckFailed)) {
    json::object err;
    err["code"] = ErrorCodeName(st.error_code());
    err["message"] = st.message();
    err["status"] = 503;
    json::object o;
    o["error"] = std::move(err);
    return {503, Stringify(o)};
  }
  if (st.error_code() != ErrorCode::kNone) {
    json::object o;  // a limit violation: the plugin's Error gets this code
    o["error"] = st.message();
    o["code"] = ErrorCodeName(st.error_code());
    return {500, Stringify(o)};
  }
  return {500, ErrorBody(st.message())};
}

namespace {

// Steps 1-2 of the pipeline; on failure `error` holds the reply.
std::optional<Grant> Authenticate(const TokenAuthority& tokens, std::string_view authorization,
                                  const std::function<Status(const Grant&)>& admit, Reply* error) {
  if (authorization.substr(0, 7) != "Bearer ") {
    *error = {401, ErrorBody("Missing or invalid authorization")};
    return std::nullopt;
  }
  auto grant = tokens.VerifyBridgeToken(authorization.substr(7));
  if (!grant.ok()) {
    *error = {401, ErrorBody("Invalid auth token")};
    return std::nullopt;
  }
  if (admit) {
    Status st = admit(*grant);
    if (st.code() == Code::kUnauthenticated) {
      *error = {401, ErrorBody(st.message())};
      return std::nullopt;
    }
    if (!st.ok()) {
      *error = Bridge::Envelope(st);
      return std::nullopt;
    }
  }
  return std::move(grant).value();
}

}  // namespace

Reply Bridge::Admit(std::string_view authorization,
                    const std::function<Status(const Grant&)>& admit) {
  Reply r{200, ""};
  Authenticate(tokens_, authorization, admit, &r);
  return r;
}

Reply Bridge::Handle(std::string_view authorization, std::string_view method, std::string_view body,
                     Invocation* invocation, const std::function<Status(const Grant&)>& admit) {
  Reply error;
  auto grant = Authenticate(tokens_, authorization, admit, &error);
  if (!grant) return error;
  if (body.size() > options_.max_body_bytes) return {413, ErrorBody("Request body too large")};
  json::object params;
  if (!body.empty()) {
    auto parsed = ParseJson(body);
    if (!parsed.ok()) return {400, ErrorBody(parsed.status().message())};
    if (!parsed->is_object()) return {400, ErrorBody("Request body must be a JSON object")};
    params = std::move(parsed->get_object());
  }
  return Envelope(Call(*grant, method, params, invocation));
}

}  // namespace ps::bridge

#include "server/site.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "capabilities/capabilities.h"
#include "common/encoding.h"
#include "common/ids.h"
#include "store/schema_registry.h"

namespace ps::server {
namespace {

Status Bad(const std::string& m) { return InvalidArgument(m); }

json::object CollectionJson(const store::CollectionSpec& c) {
  json::object o;
  o["slug"] = c.slug;
  o["label"] = c.label;
  json::array fields;
  for (const auto& f : c.fields) {
    json::object fo;
    fo["slug"] = f.slug;
    fo["type"] = f.type;
    fo["required"] = f.required;
    fields.push_back(std::move(fo));
  }
  o["fields"] = std::move(fields);
  json::array supports;
  for (const auto& s : c.supports) supports.emplace_back(json::string(s));
  o["supports"] = std::move(supports);
  return o;
}

// Bridge errors from host calls, as the API should report them.
Status HostError(const Status& st) {
  const std::string& m = st.message();
  if (m.find("has no column named") != std::string::npos) {
    return InvalidArgument(m + " (the collection has no such field)");
  }
  return st;
}

Result<const json::object*> BodyObject(const json::value& body) {
  if (!body.is_object()) return Bad("request body: expected a JSON object");
  return &body.get_object();
}

Result<std::optional<std::string>> OptionalString(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return Bad(std::string("request body: ") + key + ": expected a string");
  return std::optional<std::string>(std::string(v->get_string()));
}

}  // namespace

Site::Site(store::Database& db, bridge::Bridge& bridge, Pipeline& pipeline,
           std::shared_ptr<bridge::MediaStorage> media)
    : db_(db), bridge_(bridge), pipeline_(pipeline), media_(std::move(media)) {
  grant_.plugin_id = "__host__";
  grant_.version = "0";
  for (auto n : caps::CurrentNames()) grant_.capabilities.emplace_back(n);
}

Result<json::value> Site::Call(const std::string& method, json::object params) {
  auto r = bridge_.Call(grant_, method, params);
  if (!r.ok()) return HostError(r.status());
  return r->value.value_or(json::value(nullptr));
}

Status Site::CheckCollection(const std::string& collection) {
  PS_ASSIGN(auto all, store::ListCollections(db_));
  for (const auto& c : all)
    if (c.slug == collection) return Status::Ok();
  return Status(Code::kNotFound, "Collection not found: " + collection).With(ErrorCode::kNotFound);
}

Result<json::value> Site::WithColumns(const std::string& collection, json::value item) {
  if (!item.is_object()) return item;
  auto& o = item.get_object();
  auto* id = o.if_contains("id");
  if (!id || !id->is_string()) return item;
  auto conn = db_.Acquire();
  // `collection` is a registered collection (its slug matched ^[a-z][a-z0-9_]*$ on creation).
  auto rows = conn->Query("SELECT slug, status FROM ec_" + collection + " WHERE id = ?",
                          {std::string(id->get_string())});
  if (!rows.ok() || rows->empty()) return item;
  auto text = [](const store::Value& v) -> json::value {
    if (const auto* s = std::get_if<std::string>(&v)) return json::string(*s);
    return nullptr;
  };
  o["slug"] = text(rows->rows[0][0]);
  o["status"] = text(rows->rows[0][1]);
  return item;
}

Result<json::value> Site::CreateCollection(const json::value& body) {
  PS_ASSIGN(const json::object* o, BodyObject(body));
  store::CollectionSpec spec;
  PS_ASSIGN(auto slug, OptionalString(*o, "slug"));
  if (!slug) return Bad("request body: slug: required (a string matching ^[a-z][a-z0-9_]*$)");
  spec.slug = *slug;
  PS_ASSIGN(auto label, OptionalString(*o, "label"));
  spec.label = label ? *label : spec.slug;
  if (auto* fields = o->if_contains("fields"); fields && !fields->is_null()) {
    if (!fields->is_array()) return Bad("request body: fields: expected an array");
    size_t i = 0;
    for (const auto& f : fields->get_array()) {
      std::string where = "request body: fields[" + std::to_string(i++) + "]";
      if (!f.is_object()) return Bad(where + ": expected an object {slug, type, required?}");
      const auto& fo = f.get_object();
      store::FieldSpec fs;
      auto* s = fo.if_contains("slug");
      auto* t = fo.if_contains("type");
      if (!s || !s->is_string()) return Bad(where + ".slug: expected a string");
      if (!t || !t->is_string()) return Bad(where + ".type: expected a string");
      fs.slug = s->get_string();
      fs.type = t->get_string();
      if (auto* r = fo.if_contains("required"); r && !r->is_null()) {
        if (!r->is_bool()) return Bad(where + ".required: expected a boolean");
        fs.required = r->as_bool();
      }
      spec.fields.push_back(std::move(fs));
    }
  }
  if (auto* s = o->if_contains("supports"); s && !s->is_null()) {
    if (!s->is_array()) return Bad("request body: supports: expected an array of strings");
    for (const auto& e : s->get_array()) {
      if (!e.is_string()) return Bad("request body: supports: expected an array of strings");
      spec.supports.emplace_back(e.get_string());
    }
  }
  Status st = store::CreateCollection(db_, spec);
  if (!st.ok()) return st;
  return json::value(CollectionJson(spec));
}

Result<json::value> Site::ListCollections() {
  PS_ASSIGN(auto all, store::ListCollections(db_));
  json::array out;
  for (const auto& c : all) out.push_back(CollectionJson(c));
  return json::value(std::move(out));
}

Result<json::value> Site::ListContent(const std::string& collection,
                                      const std::optional<double>& limit,
                                      const std::optional<std::string>& cursor) {
  PS_TRY(CheckCollection(collection));
  json::object p;
  p["collection"] = collection;
  if (limit) p["limit"] = *limit;
  if (cursor) p["cursor"] = *cursor;
  PS_ASSIGN(json::value page, Call("content/list", std::move(p)));
  if (auto* items = page.is_object() ? page.get_object().if_contains("items") : nullptr;
      items && items->is_array()) {
    for (auto& item : items->get_array()) {
      PS_ASSIGN(item, WithColumns(collection, item));
    }
  }
  return page;
}

Result<json::value> Site::GetContent(const std::string& collection, const std::string& id) {
  PS_TRY(CheckCollection(collection));
  json::object p;
  p["collection"] = collection;
  p["id"] = id;
  PS_ASSIGN(json::value item, Call("content/get", std::move(p)));
  if (item.is_null()) {
    return Status(Code::kNotFound, "Content not found: " + collection + "/" + id)
        .With(ErrorCode::kNotFound);
  }
  return WithColumns(collection, std::move(item));
}

Result<json::object> Site::RunBeforeSave(const std::string& collection, json::object content,
                                         bool is_new) {
  if (!pipeline_.HasParticipants("content:beforeSave")) return content;
  json::object event;
  event["content"] = content;
  event["collection"] = collection;
  event["isNew"] = is_new;
  PipelineOutcome out = pipeline_.Run("content:beforeSave", event);
  if (out.aborted) return out.abort_status;
  if (out.value.is_object()) return out.value.get_object();
  return content;
}

Result<json::value> Site::CreateContent(const std::string& collection, const json::value& body) {
  PS_ASSIGN(const json::object* o, BodyObject(body));
  PS_TRY(CheckCollection(collection));
  auto* data = o->if_contains("data");
  if (!data || !data->is_object()) return Bad("request body: data: required (an object)");
  PS_ASSIGN(auto slug, OptionalString(*o, "slug"));
  PS_ASSIGN(auto status, OptionalString(*o, "status"));
  PS_ASSIGN(auto locale, OptionalString(*o, "locale"));
  json::object content = data->get_object();
  if (slug) content["slug"] = *slug;
  if (status) content["status"] = *status;

  PS_ASSIGN(content, RunBeforeSave(collection, std::move(content), true));
  content.erase("id");
  json::object p;
  p["collection"] = collection;
  p["data"] = content;
  if (locale) {
    json::object options;
    options["locale"] = *locale;
    p["options"] = std::move(options);
  }
  PS_ASSIGN(json::value item, Call("content/create", std::move(p)));
  PS_ASSIGN(item, WithColumns(collection, std::move(item)));

  json::object after;
  after["content"] = item;
  after["collection"] = collection;
  after["isNew"] = true;
  pipeline_.Fire("content:afterSave", after);
  return item;
}

Result<json::value> Site::UpdateContent(const std::string& collection, const std::string& id,
                                        const json::value& body) {
  PS_ASSIGN(const json::object* o, BodyObject(body));
  PS_ASSIGN(json::value existing, GetContent(collection, id));
  (void)existing;
  json::object content;
  if (auto* data = o->if_contains("data"); data && !data->is_null()) {
    if (!data->is_object()) return Bad("request body: data: expected an object");
    content = data->get_object();
  }
  PS_ASSIGN(auto slug, OptionalString(*o, "slug"));
  PS_ASSIGN(auto status, OptionalString(*o, "status"));
  if (slug) content["slug"] = *slug;
  if (status) content["status"] = *status;
  content["id"] = id;

  PS_ASSIGN(content, RunBeforeSave(collection, std::move(content), false));
  content.erase("id");
  json::object p;
  p["collection"] = collection;
  p["id"] = id;
  p["data"] = content;
  PS_ASSIGN(json::value item, Call("content/update", std::move(p)));
  PS_ASSIGN(item, WithColumns(collection, std::move(item)));

  json::object after;
  after["content"] = item;
  after["collection"] = collection;
  after["isNew"] = false;
  pipeline_.Fire("content:afterSave", after);
  return item;
}

Result<json::value> Site::DeleteContent(const std::string& collection, const std::string& id) {
  PS_ASSIGN(json::value existing, GetContent(collection, id));
  (void)existing;
  if (pipeline_.HasParticipants("content:beforeDelete")) {
    json::object event;
    event["id"] = id;
    event["collection"] = collection;
    PipelineOutcome out = pipeline_.Run("content:beforeDelete", event);
    if (out.aborted) return out.abort_status;
    if (out.vetoed) {
      return Status(Code::kConflict,
                    "Delete of " + collection + "/" + id + " vetoed by plugin " + out.vetoed_by)
          .With(ErrorCode::kConflict);
    }
  }
  json::object p;
  p["collection"] = collection;
  p["id"] = id;
  PS_ASSIGN(json::value deleted, Call("content/delete", std::move(p)));
  if (!deleted.is_bool() || !deleted.as_bool()) {
    return Status(Code::kNotFound, "Content not found: " + collection + "/" + id)
        .With(ErrorCode::kNotFound);
  }
  json::object after;
  after["id"] = id;
  after["collection"] = collection;
  after["permanent"] = false;
  pipeline_.Fire("content:afterDelete", after);
  json::object out;
  out["id"] = id;
  out["collection"] = collection;
  out["deleted"] = true;
  return json::value(std::move(out));
}

Result<json::value> Site::UploadMedia(const std::string& filename, const std::string& content_type,
                                      const std::string& bytes) {
  if (filename.empty()) return Bad("query parameter filename: required (the file's name)");
  if (content_type.empty()) return Bad("header Content-Type: required (the file's media type)");
  std::string name = filename;
  std::string type = content_type;
  if (pipeline_.HasParticipants("media:beforeUpload")) {
    json::object file;
    file["name"] = name;
    file["type"] = type;
    file["size"] = int64_t(bytes.size());
    json::object event;
    event["file"] = std::move(file);
    PipelineOutcome out = pipeline_.Run("media:beforeUpload", event);
    if (out.aborted) return out.abort_status;
    if (out.value.is_object()) {
      const auto& f = out.value.get_object();
      if (auto* n = f.if_contains("name"); n && n->is_string() && !n->get_string().empty())
        name = n->get_string();
      if (auto* t = f.if_contains("type"); t && t->is_string() && !t->get_string().empty())
        type = t->get_string();
    }
  }
  json::object p;
  p["filename"] = name;
  p["contentType"] = type;
  p["bytes"] = Base64Encode(bytes);
  p["encoding"] = "base64";
  PS_ASSIGN(json::value uploaded, Call("media/upload", std::move(p)));
  std::string media_id;
  if (uploaded.is_object()) {
    if (auto* m = uploaded.get_object().if_contains("mediaId"); m && m->is_string())
      media_id = m->get_string();
  }
  PS_ASSIGN(json::value item, GetMedia(media_id));
  json::object after;
  after["media"] = item;
  pipeline_.Fire("media:afterUpload", after);
  return item;
}

Result<json::value> Site::ListMedia(const std::optional<double>& limit,
                                    const std::optional<std::string>& cursor,
                                    const std::optional<std::string>& mime_type) {
  json::object p;
  if (limit) p["limit"] = *limit;
  if (cursor) p["cursor"] = *cursor;
  if (mime_type) p["mimeType"] = *mime_type;
  return Call("media/list", std::move(p));
}

Result<json::value> Site::GetMedia(const std::string& id) {
  json::object p;
  p["id"] = id;
  PS_ASSIGN(json::value item, Call("media/get", std::move(p)));
  if (item.is_null()) {
    return Status(Code::kNotFound, "Media not found: " + id).With(ErrorCode::kNotFound);
  }
  return item;
}

Result<json::value> Site::DeleteMedia(const std::string& id) {
  json::object p;
  p["id"] = id;
  PS_ASSIGN(json::value deleted, Call("media/delete", std::move(p)));
  if (!deleted.is_bool() || !deleted.as_bool()) {
    return Status(Code::kNotFound, "Media not found: " + id).With(ErrorCode::kNotFound);
  }
  json::object out;
  out["id"] = id;
  out["deleted"] = true;
  return json::value(std::move(out));
}

Result<MediaFile> Site::ReadMediaFile(const std::string& key) {
  auto not_found =
      Status(Code::kNotFound, "Media file not found: " + key).With(ErrorCode::kNotFound);
  if (!media_ || key.empty() || key.find('/') != std::string::npos || key[0] == '.') {
    return not_found;
  }
  std::string type;
  {
    auto conn = db_.Acquire();
    PS_ASSIGN(auto rows,
              conn->Query("SELECT mime_type FROM media WHERE storage_key = ? AND status = 'ready'",
                          {key}));
    if (rows.empty()) return not_found;
    if (const auto* s = std::get_if<std::string>(&rows.rows[0][0])) type = *s;
  }
  auto bytes = media_->Read(key);
  if (!bytes.ok()) return not_found;
  return MediaFile{std::move(bytes).value(), type.empty() ? "application/octet-stream" : type};
}

Result<json::value> Site::CreateUser(const json::value& body) {
  PS_ASSIGN(const json::object* o, BodyObject(body));
  PS_ASSIGN(auto email, OptionalString(*o, "email"));
  if (!email || email->find('@') == std::string::npos || email->size() > 320) {
    return Bad("request body: email: required (an email address)");
  }
  PS_ASSIGN(auto name, OptionalString(*o, "name"));
  int64_t role = 10;
  if (auto* r = o->if_contains("role"); r && !r->is_null()) {
    static const std::vector<std::pair<std::string, int64_t>> kRoles = {
        {"subscriber", 10}, {"contributor", 20}, {"author", 30}, {"editor", 40}, {"admin", 50}};
    bool ok = false;
    if (r->is_string()) {
      for (const auto& [n, v] : kRoles)
        if (r->get_string() == n) role = v, ok = true;
    } else if (r->is_int64()) {
      for (const auto& [n, v] : kRoles)
        if (r->as_int64() == v) role = v, ok = true;
    }
    if (!ok) {
      return Bad(
          "request body: role: expected subscriber, contributor, author, editor, admin or "
          "10, 20, 30, 40, 50");
    }
  }
  std::string lower = *email;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  std::string id = NewUlid();
  {
    auto conn = db_.Acquire();
    // Timestamps are the columns' defaults, as EmDash's user repository leaves them.
    auto r = conn->Exec("INSERT INTO users (id, email, name, role) VALUES (?, ?, ?, ?)",
                        {id, lower, name ? store::Value(*name) : store::Value(), role});
    if (!r.ok()) {
      if (r.status().code() == Code::kConflict) {
        return Status(Code::kConflict, "A user with email " + lower + " exists")
            .With(ErrorCode::kConflict);
      }
      return r.status();
    }
  }
  json::object p;
  p["id"] = id;
  return Call("users/get", std::move(p));
}

Result<json::value> Site::ListUsers(const std::optional<double>& limit,
                                    const std::optional<std::string>& cursor) {
  json::object p;
  if (limit) p["limit"] = *limit;
  if (cursor) p["cursor"] = *cursor;
  return Call("users/list", std::move(p));
}

}  // namespace ps::server

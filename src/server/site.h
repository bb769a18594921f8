// The site's data as the host API serves it: collections, content, media and users, with the
// hooks a CMS fires around writes (runner.md §3):
//   content create/update: content:beforeSave (sequential; an object result replaces the
//     content for the next plugin and the write), the write, then content:afterSave in the
//     background;
//   content delete: content:beforeDelete (false vetoes: 409 conflict), the soft delete, then
//     content:afterDelete {id, collection, permanent: false} in the background;
//   media upload: media:beforeUpload (may replace the file's name and type), the write, then
//     media:afterUpload in the background.
// The `content` a beforeSave hook sees is the request's `data` with `slug` and `status` (when
// given) as top-level keys and, for an update, the item's `id`. What the hooks return is what is
// written (an `id` key is dropped; `slug` and `status` go to their columns, as with the bridge's
// content/create and content/update).
// Reads and writes reuse the bridge's methods (one SQL implementation) through a host grant
// holding every capability. Items are the bridge's item shape plus `slug` and `status`.
// Errors: NotFound for an unknown collection, item or media; InvalidArgument for bad input
// (naming the field); Conflict for a veto or a duplicate; the plugin's error when a hook with
// errorPolicy "abort" fails.
// May call: bridge/, store/, server/pipeline.h, common/. Called by: server/api.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "bridge/bridge.h"
#include "bridge/media_storage.h"
#include "common/json.h"
#include "common/status.h"
#include "server/pipeline.h"
#include "store/database.h"

namespace ps::server {

struct MediaFile {
  std::string bytes;
  std::string content_type;
};

class Site {
 public:
  Site(store::Database& db, bridge::Bridge& bridge, Pipeline& pipeline,
       std::shared_ptr<bridge::MediaStorage> media);

  Result<json::value> CreateCollection(const json::value& body);
  Result<json::value> ListCollections();

  Result<json::value> ListContent(const std::string& collection, const std::optional<double>& limit,
                                  const std::optional<std::string>& cursor);
  Result<json::value> GetContent(const std::string& collection, const std::string& id);
  Result<json::value> CreateContent(const std::string& collection, const json::value& body);
  Result<json::value> UpdateContent(const std::string& collection, const std::string& id,
                                    const json::value& body);
  Result<json::value> DeleteContent(const std::string& collection, const std::string& id);

  Result<json::value> UploadMedia(const std::string& filename, const std::string& content_type,
                                  const std::string& bytes);
  Result<json::value> ListMedia(const std::optional<double>& limit,
                                const std::optional<std::string>& cursor,
                                const std::optional<std::string>& mime_type);
  Result<json::value> GetMedia(const std::string& id);
  Result<json::value> DeleteMedia(const std::string& id);
  Result<MediaFile> ReadMediaFile(const std::string& key);

  Result<json::value> CreateUser(const json::value& body);
  Result<json::value> ListUsers(const std::optional<double>& limit,
                                const std::optional<std::string>& cursor);

 private:
  Result<json::value> Call(const std::string& method, json::object params);
  Status CheckCollection(const std::string& collection);
  // Adds slug and status (system columns the bridge's item leaves out).
  Result<json::value> WithColumns(const std::string& collection, json::value item);
  Result<json::object> RunBeforeSave(const std::string& collection, json::object content,
                                     bool is_new);

  store::Database& db_;
  bridge::Bridge& bridge_;
  Pipeline& pipeline_;
  std::shared_ptr<bridge::MediaStorage> media_;
  bridge::Grant grant_;
};

}  // namespace ps::server

#include "store/database.h"

#include "store/migrations.h"
#include "store/sqlite/sqlite_database.h"

namespace ps::store {

Status Connection::Transaction(const std::function<Status()>& fn) {
  PS_TRY(Begin());
  Status st = fn();
  if (!st.ok()) {
    Rollback();
    return st;
  }
  Status c = Commit();
  if (!c.ok()) Rollback();
  return c;
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url) {
  std::unique_ptr<Database> db;
  if (url.rfind("sqlite:", 0) == 0) {
    PS_ASSIGN(db, SqliteDatabase::Open(url.substr(7)));
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return InvalidArgument("--db: the PostgreSQL backend is not available in this build yet (" +
                           url.substr(0, url.find(':')) + ")");
  } else {
    return InvalidArgument("--db: expected sqlite:PATH or postgres://…, got \"" + url + "\"");
  }
  auto conn = db->Acquire();
  PS_TRY(Migrate(*conn, db->dialect()));
  return db;
}

}  // namespace ps::store

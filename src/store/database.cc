#include "store/database.h"

#include <cstdio>
#include <regex>

#include "store/migrations.h"
#include "store/postgres/postgres_database.h"
#include "store/site_schema.h"
#include "store/sqlite/sqlite_database.h"

namespace ps::store {

Status Connection::Transaction(const std::function<Status()>& fn) {
  for (int attempt = 1;; ++attempt) {
    PS_TRY(Begin(attempt));
    Status st = fn();
    if (!st.ok()) {
      Rollback();
      return st;
    }
    if (attempt < kTransactionAttempts && YieldBeforeCommit()) {
      Rollback();
      continue;
    }
    Status c = Commit();
    if (!c.ok()) Rollback();
    return c;
  }
}

Database::Database() : schema_(std::make_unique<SiteSchema>()) {}
Database::~Database() = default;
void Database::set_schema(SiteSchema schema) { *schema_ = std::move(schema); }

std::string RenderDdl(std::string_view ddl, const Dialect& d) {
  static const std::regex word("\\b(TEXT|INTEGER|REAL)\\b|\\{NOW\\}");
  std::string out;
  std::string in(ddl);
  auto last = in.cbegin();
  for (std::sregex_iterator it(in.begin(), in.end(), word), end; it != end; ++it) {
    out.append(last, in.cbegin() + it->position());
    std::string m = it->str();
    out += m == "TEXT"      ? d.TextType()
           : m == "INTEGER" ? d.IntegerType()
           : m == "REAL"    ? d.RealType()
                            : d.NowDefault();
    last = in.cbegin() + it->position() + it->length();
  }
  out.append(last, in.cend());
  return out;
}

std::string FitIdentifier(const std::string& name, const Dialect& d) {
  size_t max = d.MaxIdentifierBytes();
  if (name.size() <= max) return name;
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds and hosts
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  return name.substr(0, max - 9) + suffix;
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url) {
  std::unique_ptr<Database> db;
  if (url.rfind("sqlite:", 0) == 0) {
    PS_ASSIGN(db, SqliteDatabase::Open(url.substr(7)));
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    PS_ASSIGN(db, PostgresDatabase::Open(url));
  } else {
    return InvalidArgument("--db: expected sqlite:PATH or postgres://…, got \"" + url + "\"");
  }
  auto conn = db->Acquire();
  PS_TRY(Migrate(*conn, db->dialect()));
  PS_ASSIGN(auto schema, SiteSchema::Read(*conn, db->dialect()));
  db->set_schema(std::move(schema));
  return db;
}

}  // namespace ps::store

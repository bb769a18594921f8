// storage/query and storage/count rendered as SQL (bridge.md §5): see storage_query.h.
#include "bridge/storage_query.h"

#include <algorithm>
#include <cmath>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "common/char_class.h"
#include "common/encoding.h"

namespace ps::bridge {
namespace {

Status CheckField(const std::string& f, const char* label) {
  if (f.empty()) return InvalidArgument(std::string(label) + " must be a non-empty string");
  if (f.size() > 128) {
    return InvalidArgument(std::string(label) + " must be 128 characters or less, got " +
                           std::to_string(f.size()));
  }
  if (!IsWord(f, kLower | kUpper, kLower | kUpper | kDigit | kUnderscore)) {
    return InvalidArgument(std::string(label) + " must match /^[a-zA-Z][a-zA-Z0-9_]*$/ (got \"" +
                           f + "\")");
  }
  return Status::Ok();
}

bool Indexed(const std::vector<std::string>& fields, const std::string& f) {
  return std::find(fields.begin(), fields.end(), f) != fields.end();
}

// `<text extract> <rhs>`, limited to JSON strings where the backend's extract is untyped.
std::string TextPredicate(const store::Dialect& d, const std::string& f, const std::string& rhs) {
  std::string guard = d.JsonStringGuard(f);
  std::string p = d.JsonText(f) + " " + rhs;
  return guard.empty() ? p : "(" + p + " AND " + guard + ")";
}

// Appends one comparison, choosing the numeric extract iff the bound value is a number.
void Compare(const store::Dialect& d, const std::string& f, const char* op, const json::value& v,
             std::vector<std::string>& frags, std::vector<store::Value>& args) {
  if (v.is_null()) {
    frags.push_back(d.JsonText(f) + " " + op + " NULL");
    return;
  }
  if (IsNumber(v)) {
    frags.push_back(d.JsonNumeric(f) + " " + op + " ?");
    args.push_back(ToSql(v));
  } else if (v.is_bool()) {
    frags.push_back(d.JsonBoolExpr(f) + " " + op + " ?");
    args.push_back(d.JsonBool(v.get_bool()));
  } else {
    frags.push_back(TextPredicate(d, f, std::string(op) + " ?"));
    args.push_back(ToSql(v));
  }
}

// `in` with a list that is not all numbers. SQLite: one IN over the text extract, whose typed
// comparison matches numbers to numbers and strings to strings (bridge.md §5.3). A backend with
// an untyped extract gets the same result from one IN per JSON type.
std::string InList(const store::Dialect& d, const std::string& f, const json::array& in,
                   std::vector<store::Value>* args) {
  auto placeholders = [](size_t n) {
    std::string list;
    for (size_t i = 0; i < n; ++i) list += i ? ", ?" : "?";
    return list;
  };
  if (d.JsonStringGuard(f).empty()) {
    for (const auto& e : in) args->push_back(e.is_bool() ? d.JsonBool(e.get_bool()) : ToSql(e));
    return d.JsonText(f) + " IN (" + placeholders(in.size()) + ")";
  }
  std::vector<store::Value> nums, strs, bools;
  for (const auto& e : in) {
    if (IsNumber(e))
      nums.push_back(ToSql(e));
    else if (e.is_bool())
      bools.push_back(d.JsonBool(e.get_bool()));
    else if (!e.is_null())
      strs.push_back(ToSql(e));  // null never equals anything
  }
  std::vector<std::string> parts;
  if (!nums.empty()) parts.push_back(d.JsonNumeric(f) + " IN (" + placeholders(nums.size()) + ")");
  if (!strs.empty()) parts.push_back(TextPredicate(d, f, "IN (" + placeholders(strs.size()) + ")"));
  if (!bools.empty())
    parts.push_back(d.JsonBoolExpr(f) + " IN (" + placeholders(bools.size()) + ")");
  for (auto* group : {&nums, &strs, &bools})
    args->insert(args->end(), group->begin(), group->end());
  if (parts.empty()) return "1 = 0";  // `IN ()` matches nothing (and is not valid everywhere)
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "(" : " OR ") + p;
  return out + ")";
}

Status BuildWhere(const store::Dialect& d, const json::object& where, std::string* sql,
                  std::vector<store::Value>* args) {
  std::vector<std::string> frags;
  for (const auto& kv : where) {
    std::string f(kv.key());
    PS_TRY(CheckField(f, "plugin storage field name"));
    const json::value& v = kv.value();
    if (v.is_null()) {
      frags.push_back(d.JsonText(f) + " IS NULL");
    } else if (IsNumber(v)) {
      frags.push_back(d.JsonNumeric(f) + " = ?");
      args->push_back(ToSql(v));
    } else if (v.is_string()) {
      frags.push_back(TextPredicate(d, f, "= ?"));
      args->push_back(std::string(v.get_string()));
    } else if (v.is_bool()) {
      frags.push_back(d.JsonBoolExpr(f) + " = ?");
      args->push_back(d.JsonBool(v.get_bool()));
    } else if (v.is_object() && v.get_object().if_contains("in") &&
               v.get_object().at("in").is_array()) {
      const auto& in = v.get_object().at("in").get_array();
      bool numeric = !in.empty();
      for (const auto& e : in) numeric &= IsNumber(e);
      if (numeric) {
        std::string list;
        for (const auto& e : in) {
          list += list.empty() ? "?" : ", ?";
          args->push_back(ToSql(e));
        }
        frags.push_back(d.JsonNumeric(f) + " IN (" + list + ")");
      } else {
        frags.push_back(InList(d, f, in, args));
      }
    } else if (v.is_object() && v.get_object().if_contains("startsWith") &&
               v.get_object().at("startsWith").is_string()) {
      frags.push_back(d.JsonText(f) + " " + std::string(d.LikeCi()) + " ? ESCAPE '\\'");
      args->push_back(LikePrefix(v.get_object().at("startsWith").get_string()));
    } else if (v.is_object() && (v.get_object().contains("gt") || v.get_object().contains("gte") ||
                                 v.get_object().contains("lt") || v.get_object().contains("lte"))) {
      const auto& o = v.get_object();
      static const std::pair<const char*, const char*> kOps[] = {
          {"gt", ">"}, {"gte", ">="}, {"lt", "<"}, {"lte", "<="}};
      std::vector<std::string> parts;
      for (const auto& [key, op] : kOps) {
        if (auto* b = o.if_contains(key)) Compare(d, f, op, *b, parts, *args);
      }
      std::string joined;
      for (const auto& p : parts) joined += (joined.empty() ? "" : " AND ") + p;
      frags.push_back(joined);
    } else {
      return InvalidArgument("Unknown filter type for field '" + f + "'");
    }
  }
  std::string joined;
  for (const auto& p : frags) joined += (joined.empty() ? "" : " AND ") + p;
  *sql = joined;
  return Status::Ok();
}

Status BadCursor(const std::string& cursor) {
  std::string shown = cursor.size() <= 50 ? cursor : cursor.substr(0, 47) + "...";
  return InvalidArgument("Invalid pagination cursor: " + shown);
}

// Cursor formats. Default order: EmDash's {"orderValue": created_at, "id": id}. Custom orderBy
// (our fix): {"order": [values of the orderBy fields], "id": id}, so the next page continues
// exactly after the last row under that ordering.
struct Cursor {
  std::string order_value;
  json::array order;
  std::string id;
};

Result<Cursor> DecodeCursor(const std::string& cursor, size_t custom_terms) {
  if (cursor.empty() || cursor.size() > 4096) return BadCursor(cursor);
  auto bytes = Base64Decode(cursor);
  if (!bytes) return BadCursor(cursor);
  auto parsed = ParseJson(*bytes);
  if (!parsed.ok() || !parsed->is_object()) return BadCursor(cursor);
  const auto& o = parsed->get_object();
  auto* id = o.if_contains("id");
  if (!id || !id->is_string()) return BadCursor(cursor);
  Cursor c;
  c.id = id->get_string();
  if (custom_terms == 0) {
    auto* ov = o.if_contains("orderValue");
    if (!ov || !ov->is_string()) return BadCursor(cursor);
    c.order_value = ov->get_string();
  } else {
    auto* ord = o.if_contains("order");
    if (!ord || !ord->is_array() || ord->get_array().size() != custom_terms) {
      return BadCursor(cursor);
    }
    for (const auto& e : ord->get_array()) {
      if (!(e.is_null() || e.is_string() || IsNumber(e))) return BadCursor(cursor);
    }
    c.order = ord->get_array();
  }
  return c;
}

// Rows strictly after the cursor under ORDER BY t1 d1, …, tn dn, id ASC, where NULL sorts first
// (SQLite's and our PostgreSQL order: NULLS FIRST for ASC).
std::string AfterPredicate(const std::vector<std::string>& exprs,
                           const std::vector<std::string>& dirs, const json::array& values,
                           const std::string& last_id, std::vector<store::Value>* args) {
  std::string any;
  for (size_t i = 0; i <= exprs.size(); ++i) {
    if (i < exprs.size() && values[i].is_null() && dirs[i] != "asc") {
      continue;  // NULL sorts last under DESC: nothing is strictly after it on this key
    }
    // Parameters are collected per term and bound only for terms that are used.
    std::vector<store::Value> term_args;
    std::string term;
    for (size_t j = 0; j < i; ++j) {
      if (values[j].is_null()) {
        term += exprs[j] + " IS NULL AND ";
      } else {
        term += exprs[j] + " = ? AND ";
        term_args.push_back(ToSql(values[j]));
      }
    }
    if (i == exprs.size()) {
      term += "id > ?";
      term_args.push_back(last_id);
    } else if (values[i].is_null()) {
      term += exprs[i] + " IS NOT NULL";
    } else if (dirs[i] == "asc") {
      term += exprs[i] + " > ?";
      term_args.push_back(ToSql(values[i]));
    } else {
      term += "(" + exprs[i] + " < ? OR " + exprs[i] + " IS NULL)";
      term_args.push_back(ToSql(values[i]));
    }
    any += (any.empty() ? "(" : " OR (") + term + ")";
    args->insert(args->end(), term_args.begin(), term_args.end());
  }
  return "(" + any + ")";
}

}  // namespace

Result<StorageSql> BuildStorageQuery(const store::Dialect& d, const std::string& plugin,
                                     const std::string& collection, const json::object& params,
                                     const std::vector<std::string>& indexed) {
  PS_ASSIGN(const json::object* where, params::OptionalObject(params, "where"));
  PS_ASSIGN(auto order_by, params::OrderBy(params, "orderBy"));
  StorageSql out;
  out.limit = 50;
  if (auto* l = params.if_contains("limit"); l && IsNumber(*l)) {
    double n = std::floor(ToDouble(*l));
    out.limit = std::isnan(n) ? 50 : int64_t(std::clamp(n, 1.0, 100.0));
  }
  if (where) {
    for (const auto& kv : *where) {
      std::string f(kv.key());
      if (!Indexed(indexed, f)) {
        return InvalidArgument("Cannot query on non-indexed field '" + f + "'.");
      }
    }
  }
  for (const auto& [f, dir] : order_by) {
    if (!Indexed(indexed, f))
      return InvalidArgument("Cannot order by non-indexed field '" + f + "'.");
  }
  std::string where_sql;
  auto& args = out.args;
  args = {plugin, collection};
  if (where && !where->empty()) PS_TRY(BuildWhere(d, *where, &where_sql, &args));
  std::vector<std::string> exprs, dirs;
  for (const auto& [f, dir] : order_by) {
    PS_TRY(CheckField(f, "plugin storage order field name"));
    for (auto& key : d.JsonOrderKeys(f)) {
      exprs.push_back(std::move(key));
      dirs.push_back(dir);
    }
  }
  std::string& sql = out.sql;
  sql = "SELECT id, data, created_at";
  for (size_t i = 0; i < exprs.size(); ++i) sql += ", " + exprs[i] + " AS o" + std::to_string(i);
  sql += " FROM _plugin_storage WHERE plugin_id = ? AND collection = ?";
  if (!where_sql.empty()) sql += " AND (" + where_sql + ")";

  PS_ASSIGN(auto cursor_param, params::OptionalString(params, "cursor"));
  if (cursor_param && !cursor_param->empty()) {
    PS_ASSIGN(Cursor cur, DecodeCursor(*cursor_param, exprs.size()));
    if (exprs.empty()) {
      sql += " AND (created_at, id) > (?, ?)";
      args.push_back(cur.order_value);
      args.push_back(cur.id);
    } else {
      sql += " AND " + AfterPredicate(exprs, dirs, cur.order, cur.id, &args);
    }
  }
  if (exprs.empty()) {
    sql += " ORDER BY created_at ASC, id ASC";
  } else {
    sql += " ORDER BY ";
    for (size_t i = 0; i < exprs.size(); ++i) {
      bool asc = dirs[i] == "asc";
      sql += exprs[i] + (asc ? " ASC" : " DESC") + std::string(d.NullsOrder(asc)) + ", ";
    }
    sql += "id ASC";
  }
  sql += " LIMIT ?";
  args.push_back(out.limit + 1);
  out.order_columns = exprs.size();
  return out;
}

Result<StorageSql> BuildStorageCount(const store::Dialect& d, const std::string& plugin,
                                     const std::string& collection, const json::object& params,
                                     const std::vector<std::string>& indexed) {
  PS_ASSIGN(const json::object* where, params::OptionalObject(params, "where"));
  StorageSql out;
  std::string where_sql;
  out.args = {plugin, collection};
  if (where && !where->empty()) {
    for (const auto& kv : *where) {
      std::string f(kv.key());
      if (!Indexed(indexed, f)) {
        return InvalidArgument("Cannot query on non-indexed field '" + f + "'.");
      }
    }
    PS_TRY(BuildWhere(d, *where, &where_sql, &out.args));
  }
  out.sql = "SELECT COUNT(*) AS count FROM _plugin_storage WHERE plugin_id = ? AND collection = ?";
  if (!where_sql.empty()) out.sql += " AND (" + where_sql + ")";
  return out;
}

}  // namespace ps::bridge

#include "cli/table.hpp"

#include <algorithm>
#include <utility>

#include "core/money.hpp"

namespace rtjobs::cli {

namespace {

using nlohmann::json;

// Characters, not bytes: continuation bytes of UTF-8 do not count.
size_t display_width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string value_text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

void flatten(const json& object, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [key, value] : object.items()) {
    if (value.is_object() && !value.empty()) {
      flatten(value, prefix + key + ".", out);
    } else {
      out.emplace_back(prefix + key, value_text(value));
    }
  }
}

// "50.00 USD" from minor units and the currency; the JSON as it is if either is missing.
std::string amount_cell(const json& transfer) {
  auto amount = transfer.find("amount");
  auto currency = transfer.find("currency");
  if (amount == transfer.end() || !amount->is_number_integer() || currency == transfer.end() ||
      !currency->is_string()) {
    return cell(transfer, "amount");
  }
  const auto code = currency->get<std::string>();
  return decimal_amount(amount->get<int64_t>(), currency_exponent(code)) + " " + code;
}

std::string nested_cell(const json& object, const char* outer, const char* key) {
  auto it = object.find(outer);
  return it != object.end() && it->is_object() ? cell(*it, key) : "-";
}

// A free text as one table cell: line breaks as blanks, cut to `max` characters.
std::string one_line(std::string text, size_t max) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (display_width(text) <= max) return text;
  size_t kept = 0;
  size_t end = 0;
  while (end < text.size() && kept < max - 3) {
    ++end;
    while (end < text.size() && (text[end] & 0xC0) == 0x80) ++end;
    ++kept;
  }
  return text.substr(0, end) + "...";
}

template <typename Row>
Table make_table(std::vector<std::string> headers, const json& items, Row row) {
  Table t{std::move(headers), {}};
  if (!items.is_array()) return t;
  for (const json& item : items) {
    if (item.is_object()) t.rows.push_back(row(item));
  }
  return t;
}

}  // namespace

std::string format_table(const Table& table) {
  std::vector<size_t> widths(table.headers.size(), 0);
  auto widen = [&widths](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(cells[i]));
    }
  };
  widen(table.headers);
  for (const auto& row : table.rows) widen(row);
  std::string out;
  auto line = [&out, &widths](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      text += c;
      if (i + 1 < widths.size()) text += std::string(widths[i] - display_width(c) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(table.headers);
  for (const auto& row : table.rows) line(row);
  return out;
}

std::string format_record(const json& object) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (object.is_object()) flatten(object, "", fields);
  size_t width = 0;
  for (const auto& [name, _] : fields) width = std::max(width, display_width(name));
  std::string out;
  for (const auto& [name, value] : fields) {
    out += name;
    out.append(width - display_width(name) + 2, ' ');
    out += value;
    out += '\n';
  }
  return out;
}

std::string cell(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? "-" : value_text(*it);
}

Table transfers_table(const json& transfers) {
  return make_table(
      {"ID", "STATUS", "PROVIDER", "AMOUNT", "FREQUENCY", "SOURCE", "DESTINATION", "CREATED"},
      transfers, [](const json& t) -> std::vector<std::string> {
        return {cell(t, "id"),
                cell(t, "status"),
                cell(t, "provider"),
                amount_cell(t),
                nested_cell(t, "schedule", "frequency"),
                cell(t, "source_account"),
                cell(t, "destination_account"),
                cell(t, "created_at")};
      });
}

Table jobs_table(const json& jobs) {
  return make_table(
      {"ID", "TRANSFER", "SEQ", "SCHEDULED", "STATUS", "RESULT", "RETRIES", "LAST ERROR"}, jobs,
      [](const json& j) -> std::vector<std::string> {
        return {cell(j, "id"),       cell(j, "recurring_transfer_id"),
                cell(j, "sequence"), cell(j, "scheduled_for"),
                cell(j, "status"),   cell(j, "result"),
                cell(j, "retries"),  one_line(cell(j, "last_error"), 60)};
      });
}

Table backups_table(const json& backups) {
  return make_table({"ID", "BACKUP AT", "CUTOFF", "JOB ROWS", "STATUS ROWS", "BYTES"}, backups,
                    [](const json& b) -> std::vector<std::string> {
                      return {cell(b, "id"),
                              cell(b, "backup_at"),
                              cell(b, "cutoff"),
                              cell(b, "job_rows"),
                              cell(b, "provider_status_rows"),
                              cell(b, "bytes")};
                    });
}

}  // namespace rtjobs::cli

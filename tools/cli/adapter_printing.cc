#include "tools/cli/adapter_printing.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace loraplex::cli {
namespace {

std::string CreateTimeText(const loraplex::v1::Adapter& adapter) {
  if (!adapter.has_create_time()) return "-";
  return google::protobuf::util::TimeUtil::ToString(adapter.create_time());
}

std::string TargetsText(const loraplex::v1::Adapter& adapter) {
  if (adapter.target_modules().empty()) return "-";
  return absl::StrJoin(adapter.target_modules(), ",");
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, units[unit]);
}

std::string QualifiedName(const loraplex::v1::Adapter& adapter) {
  return absl::StrCat(adapter.owner(), "/", adapter.name());
}

std::string VisibilityText(loraplex::v1::Visibility visibility) {
  switch (visibility) {
    case loraplex::v1::VISIBILITY_PRIVATE:
      return "private";
    case loraplex::v1::VISIBILITY_PUBLIC:
      return "public";
    default:
      return "unspecified";
  }
}

std::string FormatAdapterDetails(const loraplex::v1::Adapter& adapter) {
  std::string out;
  const auto line = [&out](absl::string_view field, absl::string_view value) {
    absl::StrAppend(
        &out, absl::StrFormat("%-12s %s\n", absl::StrCat(field, ":"), value));
  };
  line("adapter", QualifiedName(adapter));
  line("version", adapter.version());
  line("visibility", VisibilityText(adapter.visibility()));
  line("description", adapter.description());
  line("rank", absl::StrFormat("%d (lora_alpha %g%s)", adapter.rank(),
                               adapter.lora_alpha(),
                               adapter.use_rslora() ? ", rsLoRA" : ""));
  if (adapter.has_compression()) {
    const loraplex::v1::AdapterCompression& c = adapter.compression();
    line("compression",
         c.compressed()
             ? absl::StrFormat("rank %d -> %d at upload, %.4f of the energy "
                               "kept",
                               c.original_rank(), c.stored_rank(),
                               c.retained_energy())
             : absl::StrFormat("asked for; rank %d was within the limit",
                               c.original_rank()));
  }
  line("targets", absl::StrFormat("%s (%d modules)", TargetsText(adapter),
                                  adapter.num_modules()));
  line("size", HumanBytes(adapter.size_bytes()));
  line("created", CreateTimeText(adapter));
  for (const loraplex::v1::AdapterFile& file : adapter.files()) {
    line("file", absl::StrFormat("%s  %d bytes  sha256 %s", file.filename(),
                                 file.size_bytes(), file.sha256()));
  }
  return out;
}

std::string FormatAdapterTable(
    const std::vector<loraplex::v1::Adapter>& adapters) {
  if (adapters.empty()) return "no adapters\n";
  std::vector<std::vector<std::string>> rows = {
      {"ADAPTER", "VISIBILITY", "RANK", "TARGETS", "SIZE", "CREATED"}};
  for (const loraplex::v1::Adapter& adapter : adapters) {
    rows.push_back({QualifiedName(adapter),
                    VisibilityText(adapter.visibility()),
                    absl::StrCat(adapter.rank()), TargetsText(adapter),
                    HumanBytes(adapter.size_bytes()), CreateTimeText(adapter)});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string text;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string cell = row[c];
      if (c + 1 < row.size()) cell.resize(widths[c] + 2, ' ');
      text += cell;
    }
    absl::StrAppend(&out, text, "\n");
  }
  return out;
}

}  // namespace loraplex::cli

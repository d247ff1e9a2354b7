// SafetensorsCheckpoint: a model's weights in one file or in index-listed
// shards.
#include <sys/stat.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/bounded_json.h"
#include "engine/common/status_macros.h"
#include "engine/safetensors/safetensors_reader.h"

namespace loraplex::engine {
namespace {

using json = nlohmann::json;

constexpr char kSingleFileName[] = "model.safetensors";
constexpr char kIndexFileName[] = "model.safetensors.index.json";

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (dir.empty() || dir.back() == '/') {
    return absl::StrCat(dir, name);
  }
  return absl::StrCat(dir, "/", name);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A shard must be a plain file name in the model directory: an index must
// not make the server open files elsewhere ("../x", "/etc/x").
absl::Status CheckShardName(const std::string& index_path,
                            const std::string& shard) {
  if (shard.empty() || shard == "." || shard == ".." ||
      shard.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": shard '", shard,
                     "' is not a plain file name inside the model directory"));
  }
  return absl::OkStatus();
}

// tensor name -> shard file name, from the index's "weight_map".
absl::StatusOr<std::map<std::string, std::string>> ReadWeightMap(
    const std::string& index_path, const SafetensorsLimits& limits) {
  const JsonLimits json_limits{/*max_bytes=*/limits.max_index_bytes,
                               /*max_depth=*/64};
  ASSIGN_OR_RETURN(const json index, ReadBoundedJsonFile<json>(
                                         index_path, index_path, json_limits));
  const auto weight_map =
      index.is_object() ? index.find("weight_map") : index.end();
  if (weight_map == index.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": no \"weight_map\" object"));
  }
  std::map<std::string, std::string> result;
  for (const auto& [name, shard] : weight_map->items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": weight_map entry '", name, "' is not a string"));
    }
    RETURN_IF_ERROR(CheckShardName(index_path, shard.get<std::string>()));
    result.emplace(name, shard.get<std::string>());
  }
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>>
SafetensorsCheckpoint::Open(const std::string& model_dir,
                            const SafetensorsLimits& limits) {
  std::unique_ptr<SafetensorsCheckpoint> checkpoint(
      new SafetensorsCheckpoint());
  const std::string single_path = JoinPath(model_dir, kSingleFileName);
  if (PathExists(single_path)) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                     SafetensorsFile::Open(single_path, limits));
    for (const TensorInfo& tensor : file->tensors()) {
      checkpoint->index_.emplace(tensor.name, std::make_pair(0, &tensor));
    }
    checkpoint->files_.push_back(std::move(file));
    return checkpoint;
  }
  const std::string index_path = JoinPath(model_dir, kIndexFileName);
  if (!PathExists(index_path)) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": neither ",
                                            kSingleFileName, " nor ",
                                            kIndexFileName, " exists"));
  }
  ASSIGN_OR_RETURN(const auto weight_map, ReadWeightMap(index_path, limits));
  std::map<std::string, size_t> shard_index;  // shard name -> files_ index
  for (const auto& [name, shard] : weight_map) {
    if (shard_index.count(shard) != 0) {
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                     SafetensorsFile::Open(JoinPath(model_dir, shard), limits));
    shard_index.emplace(shard, checkpoint->files_.size());
    checkpoint->files_.push_back(std::move(file));
  }
  for (const auto& [name, shard] : weight_map) {
    const size_t file_index = shard_index.at(shard);
    const TensorInfo* tensor = checkpoint->files_[file_index]->Find(name);
    if (tensor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": tensor '", name, "' is listed in shard '",
                       shard, "', which does not contain it"));
    }
    checkpoint->index_.emplace(name, std::make_pair(file_index, tensor));
  }
  // Every tensor of every shard must be the one the index lists: this also
  // catches a tensor stored in two shards.
  for (const auto& [shard, file_index] : shard_index) {
    for (const TensorInfo& tensor : checkpoint->files_[file_index]->tensors()) {
      auto listed = weight_map.find(tensor.name);
      if (listed == weight_map.end() || listed->second != shard) {
        return absl::InvalidArgumentError(absl::StrCat(
            index_path, ": shard '", shard, "' holds tensor '", tensor.name,
            "', which the index ",
            listed == weight_map.end()
                ? std::string("does not list")
                : absl::StrCat("lists in shard '", listed->second, "'")));
      }
    }
  }
  return checkpoint;
}

const TensorInfo* SafetensorsCheckpoint::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second.second;
}

absl::Span<const uint8_t> SafetensorsCheckpoint::Data(
    const TensorInfo& tensor) const {
  auto it = index_.find(tensor.name);
  if (it == index_.end()) {
    return {};
  }
  return files_[it->second.first]->Data(tensor);
}

std::vector<std::string> SafetensorsCheckpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, location] : index_) {
    names.push_back(name);
  }
  return names;
}

}  // namespace loraplex::engine

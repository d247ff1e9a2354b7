#include "tests/service/registry_test_util.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/config/model_config.h"
#include "engine/lora/lora_adapter.h"
#include "gtest/gtest.h"
#include "service/auth/sha256.h"

namespace loraplex::service::testing_util {
namespace {

const std::string kFixtureDir =
    std::string(LORAPLEX_TEST_DATA_DIR) + "/fixtures/hf-dev/llama-gqa";

}  // namespace

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot read " << path;
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void WriteFileOrDie(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  EXPECT_TRUE(file.good()) << "cannot write " << path;
}

std::vector<std::string> ListDirOrEmpty(const std::string& path) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

AdapterBytes LoadFixtureAdapter(const std::string& fixture) {
  const std::string dir = absl::StrCat(kFixtureDir, "/adapters/", fixture);
  return AdapterBytes{ReadFileOrDie(dir + "/adapter_config.json"),
                      ReadFileOrDie(dir + "/adapter_model.safetensors")};
}

UploadSpec SpecFor(const std::string& tenant, const std::string& name,
                   const AdapterBytes& bytes, Visibility visibility) {
  UploadSpec spec;
  spec.tenant = tenant;
  spec.name = name;
  spec.description = absl::StrCat("test adapter ", name);
  spec.visibility = visibility;
  spec.files = {
      {kAdapterWeightsFilename, Sha256Hex(bytes.weights), bytes.weights.size()},
      {kAdapterConfigFilename, Sha256Hex(bytes.config), bytes.config.size()}};
  return spec;
}

absl::StatusOr<AdapterRecord> UploadAdapter(AdapterRegistry& registry,
                                            const UploadSpec& spec,
                                            const AdapterBytes& bytes,
                                            size_t chunk_bytes) {
  ASSIGN_OR_RETURN(std::unique_ptr<StagedUpload> upload,
                   registry.BeginUpload(spec));
  for (const auto& [filename, data] :
       {std::pair<std::string, const std::string*>{kAdapterConfigFilename,
                                                   &bytes.config},
        {kAdapterWeightsFilename, &bytes.weights}}) {
    for (size_t offset = 0; offset < data->size(); offset += chunk_bytes) {
      RETURN_IF_ERROR(upload->WriteChunk(
          filename, offset,
          absl::string_view(*data).substr(offset, chunk_bytes)));
    }
  }
  return upload->Finish();
}

AdapterValidator EngineValidator(int64_t max_rank) {
  absl::StatusOr<engine::ModelConfig> model =
      engine::LoadModelConfig(kFixtureDir + "/model");
  EXPECT_TRUE(model.ok()) << model.status();
  return [model = *model, max_rank](const std::string& dir)
             -> absl::StatusOr<engine::LoraAdapterSummary> {
    engine::LoraValidationOptions options;
    options.max_rank = max_rank;
    ASSIGN_OR_RETURN(std::unique_ptr<engine::LoraAdapterFiles> files,
                     engine::LoraAdapterFiles::Open(dir, model, options));
    return files->summary();
  };
}

FilesystemAdapterRegistryOptions OptionsFor(const std::string& root) {
  FilesystemAdapterRegistryOptions options;
  options.root_dir = root;
  options.validator = EngineValidator();
  return options;
}

}  // namespace loraplex::service::testing_util

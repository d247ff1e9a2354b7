#include "service/server/seed_adapters.h"

#include <algorithm>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/logging.h"
#include "engine/common/status_macros.h"
#include "service/auth/names.h"
#include "service/auth/sha256.h"
#include "service/registry/file_util.h"

namespace loraplex::service {
namespace {

absl::Status StreamFile(StagedUpload& upload, const std::string& dir,
                        const std::string& filename) {
  const std::string path = file_util::JoinPath(dir, filename);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<char> buffer(kMaxUploadChunkBytes);
  uint64_t offset = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const size_t got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    RETURN_IF_ERROR(upload.WriteChunk(filename, offset,
                                      absl::string_view(buffer.data(), got)));
    offset += got;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return absl::OkStatus();
}

absl::Status SeedOne(AdapterRegistry& registry, const std::string& dir,
                     const std::string& tenant, const std::string& name) {
  UploadSpec spec;
  spec.tenant = tenant;
  spec.name = name;
  spec.description = absl::StrCat("bundled adapter (seeded from ", dir, ")");
  if (spec.description.size() > kMaxDescriptionBytes) {
    spec.description = "bundled adapter";
  }
  spec.visibility = Visibility::kPublic;
  for (const char* filename : {kAdapterConfigFilename, kAdapterWeightsFilename}) {
    ASSIGN_OR_RETURN(const file_util::FileDigest digest,
                     file_util::DigestFile(file_util::JoinPath(dir, filename)));
    spec.files.push_back(AdapterFileRecord{
        filename, DigestToHex(digest.sha256), digest.size_bytes});
  }
  ASSIGN_OR_RETURN(std::unique_ptr<StagedUpload> upload,
                   registry.BeginUpload(spec));
  for (const AdapterFileRecord& file : spec.files) {
    RETURN_IF_ERROR(StreamFile(*upload, dir, file.filename));
  }
  return upload->Finish().status();
}

}  // namespace

int SeedAdapters(AdapterRegistry& registry, const std::string& seed_dir,
                 const std::string& tenant) {
  if (!file_util::IsDirectory(seed_dir)) {
    LogWarning("seed adapters: %s is not a directory; nothing seeded",
               seed_dir);
    return 0;
  }
  absl::StatusOr<std::vector<std::string>> names = file_util::ListDir(seed_dir);
  if (!names.ok()) {
    LogWarning("seed adapters: %s", names.status().ToString());
    return 0;
  }
  int seeded = 0;
  for (const std::string& name : *names) {
    const std::string dir = file_util::JoinPath(seed_dir, name);
    if (!file_util::IsDirectory(dir)) continue;
    if (!IsValidName(name)) {
      LogWarning("seed adapters: skipping %s: not a valid adapter name", dir);
      continue;
    }
    if (registry.Get(AdapterRef{tenant, name}).ok()) continue;  // Seeded.
    const absl::Status status = SeedOne(registry, dir, tenant, name);
    if (status.ok()) {
      ++seeded;
      LogInfo("seed adapters: stored %s/%s (public)", tenant, name);
    } else {
      LogWarning("seed adapters: skipping %s: %s", dir, status.ToString());
    }
  }
  return seeded;
}

}  // namespace loraplex::service

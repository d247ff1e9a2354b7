#include "tools/loadgen/adapter_setup.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/status_macros.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "tools/client/adapter_upload.h"

namespace loraplex::loadgen {
namespace {

namespace v1 = ::loraplex::v1;

absl::StatusOr<std::vector<v1::Adapter>> ListAllAdapters(
    v1::AdapterService::Stub& stub,
    const tools::ConnectionOptions& connection) {
  std::vector<v1::Adapter> adapters;
  std::string token;
  do {
    grpc::ClientContext context;
    tools::PrepareContext(connection, &context);
    v1::ListAdaptersRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListAdaptersResponse page;
    RETURN_IF_ERROR(
        tools::FromGrpcStatus(stub.ListAdapters(&context, request, &page)));
    for (v1::Adapter& a : *page.mutable_adapters()) {
      adapters.push_back(std::move(a));
    }
    token = page.next_page_token();
  } while (!token.empty());
  return adapters;
}

// A fresh directory under $TMPDIR, removed with the object.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create() {
    const char* base = getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(base && *base ? base : "/tmp", "/loraplex-loadgen-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::ErrnoToStatus(errno, "cannot make a temporary directory");
    }
    return TempDir(pattern);
  }
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::Status CreateMissingAdapters(const AdapterSetupOptions& options,
                                   const std::vector<v1::Adapter>& existing,
                                   v1::AdapterService::Stub& stub,
                                   const tools::ConnectionOptions& connection,
                                   std::ostream& log) {
  ASSIGN_OR_RETURN(engine::ModelConfig model,
                   LoadModelConfigFrom(options.model_config));
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create());
  int32_t uploaded = 0;
  const absl::Time start = absl::Now();
  for (int32_t i = 0; i < options.create; ++i) {
    const std::string name = CreatedAdapterName(options.prefix, i);
    const bool present =
        std::any_of(existing.begin(), existing.end(),
                    [&](const v1::Adapter& a) { return a.name() == name; });
    if (present) continue;
    RandomAdapterSpec spec = options.random;
    spec.seed = static_cast<uint64_t>(i);
    RETURN_IF_ERROR(WriteRandomAdapter(model, spec, dir.path()));
    tools::AdapterUploadSpec upload;
    upload.name = name;
    upload.dir = dir.path();
    upload.description = "random adapter made by loraplex-loadgen";
    upload.is_public = options.make_public;
    absl::StatusOr<v1::Adapter> adapter =
        tools::UploadAdapterDir(stub, connection, upload);
    if (!adapter.ok() &&
        adapter.status().code() != absl::StatusCode::kAlreadyExists) {
      return absl::Status(
          adapter.status().code(),
          absl::StrCat("uploading ", name, ": ", adapter.status().message()));
    }
    ++uploaded;
  }
  log << absl::StrFormat(
      "loadgen: uploaded %d random adapters (rank %d) in %.1f s; %d existed\n",
      uploaded, options.random.rank, absl::ToDoubleSeconds(absl::Now() - start),
      options.create - uploaded);
  return absl::OkStatus();
}

}  // namespace

std::string CreatedAdapterName(const std::string& prefix, int32_t index) {
  return absl::StrFormat("%s%04d", prefix, index);
}

absl::StatusOr<std::vector<std::string>> PrepareAdapters(
    const AdapterSetupOptions& options,
    const tools::ConnectionOptions& connection,
    std::shared_ptr<grpc::Channel> channel, std::ostream& log) {
  if (!options.names.empty()) return options.names;
  if (options.prefix.empty()) {
    if (options.create > 0) {
      return absl::InvalidArgumentError(
          "--create-adapters needs --adapters-prefix");
    }
    return std::vector<std::string>{};  // Base model only.
  }
  if (options.create > 0 && options.model_config.empty()) {
    return absl::InvalidArgumentError(
        "--create-adapters needs --model-config (the server model's "
        "config.json or directory) for the adapters' shapes");
  }
  std::unique_ptr<v1::AdapterService::Stub> stub =
      v1::AdapterService::NewStub(channel);
  ASSIGN_OR_RETURN(std::vector<v1::Adapter> adapters,
                   ListAllAdapters(*stub, connection));
  if (options.create > 0) {
    RETURN_IF_ERROR(
        CreateMissingAdapters(options, adapters, *stub, connection, log));
    ASSIGN_OR_RETURN(adapters, ListAllAdapters(*stub, connection));
  }
  std::vector<std::string> names;
  for (const v1::Adapter& a : adapters) {
    const std::string qualified = absl::StrCat(a.owner(), "/", a.name());
    if (absl::StartsWith(a.name(), options.prefix) ||
        absl::StartsWith(qualified, options.prefix)) {
      names.push_back(qualified);
    }
  }
  std::sort(names.begin(), names.end());
  if (options.count > 0) {
    if (names.size() < static_cast<size_t>(options.count)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--num-adapters %d but the server has only %d adapters named "
          "%s*",
          options.count, names.size(), options.prefix));
    }
    names.resize(static_cast<size_t>(options.count));
  }
  if (names.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no adapter visible on the server is named ", options.prefix, "*"));
  }
  return names;
}

}  // namespace loraplex::loadgen

#include "tools/client/adapter_upload.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "service/auth/sha256.h"

namespace loraplex::tools {
namespace {

absl::Status OpenError(const std::string& path, int error) {
  return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", path));
}

// Reads `path` in chunk-sized blocks, handing each to `consume`.
absl::Status ForEachBlock(
    const std::string& path,
    const std::function<absl::Status(const std::string& block)>& consume) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return OpenError(path, errno);
  std::string block(kMaxUploadChunkBytes, '\0');
  while (file) {
    file.read(block.data(), static_cast<std::streamsize>(block.size()));
    const std::streamsize got = file.gcount();
    if (got <= 0) break;
    RETURN_IF_ERROR(consume(block.substr(0, static_cast<size_t>(got))));
  }
  if (file.bad()) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<LocalAdapterFile> InspectFile(const std::string& dir,
                                             const std::string& filename) {
  LocalAdapterFile file;
  file.filename = filename;
  file.path = absl::StrCat(dir, "/", filename);
  service::Sha256 hasher;
  RETURN_IF_ERROR(ForEachBlock(file.path, [&](const std::string& block) {
    hasher.Update(block);
    file.size_bytes += block.size();
    return absl::OkStatus();
  }));
  file.sha256 = service::DigestToHex(hasher.Finish());
  return file;
}

loraplex::v1::UploadAdapterRequest HeaderMessage(
    const AdapterUploadSpec& spec, const std::vector<LocalAdapterFile>& files) {
  loraplex::v1::UploadAdapterRequest request;
  loraplex::v1::UploadHeader& header = *request.mutable_header();
  header.set_name(spec.name);
  header.set_owner(spec.owner);
  header.set_description(spec.description);
  header.set_visibility(spec.is_public ? loraplex::v1::VISIBILITY_PUBLIC
                                       : loraplex::v1::VISIBILITY_PRIVATE);
  if (spec.compression.target_case() !=
      loraplex::v1::UploadCompression::TARGET_NOT_SET) {
    *header.mutable_compression() = spec.compression;
  }
  for (const LocalAdapterFile& file : files) {
    loraplex::v1::AdapterFile& declared = *header.add_files();
    declared.set_filename(file.filename);
    declared.set_sha256(file.sha256);
    declared.set_size_bytes(file.size_bytes);
  }
  return request;
}

}  // namespace

absl::StatusOr<std::vector<LocalAdapterFile>> InspectAdapterDir(
    const std::string& dir) {
  std::vector<LocalAdapterFile> files;
  for (const char* filename : kAdapterFileNames) {
    ASSIGN_OR_RETURN(LocalAdapterFile file, InspectFile(dir, filename));
    files.push_back(std::move(file));
  }
  return files;
}

absl::StatusOr<loraplex::v1::Adapter> UploadAdapterDir(
    loraplex::v1::AdapterService::StubInterface& stub,
    const ConnectionOptions& connection, const AdapterUploadSpec& spec,
    const UploadProgressFn& progress) {
  ASSIGN_OR_RETURN(std::vector<LocalAdapterFile> files,
                   InspectAdapterDir(spec.dir));
  uint64_t total_bytes = 0;
  for (const LocalAdapterFile& file : files) total_bytes += file.size_bytes;

  grpc::ClientContext context;
  PrepareContext(connection, &context, spec.name);
  loraplex::v1::Adapter adapter;
  std::unique_ptr<
      grpc::ClientWriterInterface<loraplex::v1::UploadAdapterRequest>>
      writer = stub.UploadAdapter(&context, &adapter);
  // A failed Write means the server already ended the call: stop sending
  // and let Finish() report why.
  bool stream_open = writer->Write(HeaderMessage(spec, files));
  uint64_t bytes_sent = 0;
  if (progress) progress(bytes_sent, total_bytes);
  for (const LocalAdapterFile& file : files) {
    if (!stream_open) break;
    uint64_t offset = 0;
    absl::Status read_status =
        ForEachBlock(file.path, [&](const std::string& block) {
          if (!stream_open) return absl::OkStatus();
          loraplex::v1::UploadAdapterRequest request;
          loraplex::v1::FileChunk& chunk = *request.mutable_chunk();
          chunk.set_filename(file.filename);
          chunk.set_offset(offset);
          chunk.set_data(block);
          stream_open = writer->Write(request);
          offset += block.size();
          bytes_sent += block.size();
          if (progress) progress(bytes_sent, total_bytes);
          return absl::OkStatus();
        });
    if (!read_status.ok()) {
      // Dropping the call makes the server discard the staged upload.
      context.TryCancel();
      (void)writer->Finish();
      return read_status;
    }
  }
  if (stream_open) writer->WritesDone();
  RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  return adapter;
}

}  // namespace loraplex::tools

// The server's side of compress-at-upload (UploadHeader.compression): the
// registry's AdapterCompressor and the hint added to a refused upload whose
// rank is over the limit.
#ifndef LORAPLEX_SERVICE_SERVER_UPLOAD_COMPRESSION_H_
#define LORAPLEX_SERVICE_SERVER_UPLOAD_COMPRESSION_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

// Compresses a staged upload in place with engine::CompressLoraAdapter (the
// code behind `loraplex-train compress`, so the stored files are the ones
// that command writes for the same request). INVALID_ARGUMENT for a rank
// over `max_lora_rank`; the compression's own errors otherwise.
AdapterCompressor UploadCompressor(int64_t max_lora_rank);

// `error` (a refused upload's validation error) with a sentence on how to
// ask for compression appended when the staged adapter's configured rank
// exceeds `max_lora_rank`; otherwise `error` unchanged.
absl::Status WithCompressionHint(absl::Status error,
                                 const std::string& staged_dir,
                                 int64_t max_lora_rank);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_SERVER_UPLOAD_COMPRESSION_H_

// Fuzzes SafetensorsFile::Open (the length prefix, the streaming header
// validation) and then reads every tensor it hands out, checking what
// SafetensorsFile documents: tensors tile the data area in offset order,
// byte counts match shapes, Data() stays inside the file.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/safetensors/safetensors_reader.h"
#include "fuzz/fuzz_support.h"

namespace {

using loraplex::engine::SafetensorsFile;
using loraplex::engine::TensorInfo;

void CheckAndRead(const SafetensorsFile& file, size_t file_size) {
  uint64_t covered = 0;
  uint64_t first_offset = file_size;
  std::vector<float> values;
  for (const TensorInfo& tensor : file.tensors()) {
    first_offset = std::min(first_offset, tensor.data_offset);
    LORAPLEX_FUZZ_CHECK(file.Find(tensor.name) == &tensor);
    LORAPLEX_FUZZ_CHECK(tensor.nbytes ==
                        static_cast<uint64_t>(tensor.numel()) *
                            loraplex::engine::TensorDTypeSize(tensor.dtype));
    const absl::Span<const uint8_t> data = file.Data(tensor);
    LORAPLEX_FUZZ_CHECK(data.size() == tensor.nbytes);
    LORAPLEX_FUZZ_CHECK(tensor.data_offset + tensor.nbytes <= file_size);
    covered += tensor.nbytes;
    const size_t count = static_cast<size_t>(tensor.numel());
    values.resize(count);
    loraplex::engine::ConvertToFloat32(data.data(), tensor.dtype, count,
                                       values.data());
    (void)loraplex::engine::AllFinite(data, tensor.dtype);
  }
  for (size_t i = 1; i < file.tensors().size(); ++i) {
    LORAPLEX_FUZZ_CHECK(file.tensors()[i - 1].data_offset <=
                        file.tensors()[i].data_offset);
  }
  if (!file.tensors().empty()) {
    LORAPLEX_FUZZ_CHECK(first_offset + covered == file_size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = loraplex::fuzz::WriteScratchFile(
      "t.safetensors",
      std::string_view(reinterpret_cast<const char*>(data), size));
  auto file = SafetensorsFile::Open(path);
  if (file.ok()) CheckAndRead(**file, size);
  return 0;
}

// Human-readable renderings of adapters and byte counts for the `adapters`
// commands (the --json forms use tools/client/proto_json.h).
#ifndef LORAPLEX_TOOLS_CLI_ADAPTER_PRINTING_H_
#define LORAPLEX_TOOLS_CLI_ADAPTER_PRINTING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "proto/loraplex/v1/adapters.pb.h"

namespace loraplex::cli {

// 1536 -> "1.5 KiB"; below 1 KiB in plain bytes ("512 B").
std::string HumanBytes(uint64_t bytes);

// "owner/name".
std::string QualifiedName(const loraplex::v1::Adapter& adapter);

// "private" / "public" / "unspecified".
std::string VisibilityText(loraplex::v1::Visibility visibility);

// One "field: value" line per property, then the files, ending in '\n'.
std::string FormatAdapterDetails(const loraplex::v1::Adapter& adapter);

// A table with a header row and one row per adapter, ending in '\n'; "no
// adapters\n" when empty.
std::string FormatAdapterTable(
    const std::vector<loraplex::v1::Adapter>& adapters);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_ADAPTER_PRINTING_H_

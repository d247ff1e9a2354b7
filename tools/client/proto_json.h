// Protobuf messages as one line of JSON (proto3 JSON mapping with the
// .proto's snake_case field names, default values printed), for the tools'
// --json output.
#ifndef LORAPLEX_TOOLS_CLIENT_PROTO_JSON_H_
#define LORAPLEX_TOOLS_CLIENT_PROTO_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace loraplex::tools {

std::string ProtoToJson(const google::protobuf::Message& message);

}  // namespace loraplex::tools

#endif  // LORAPLEX_TOOLS_CLIENT_PROTO_JSON_H_

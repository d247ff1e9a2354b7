#include "tools/client/proto_json.h"

#include <google/protobuf/util/json_util.h>

namespace loraplex::tools {

std::string ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a well-formed message cannot fail (only Any with an unknown
  // type can, and the API has none).
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace loraplex::tools

// Request parsing and reply serialization for the servicers, which take and
// give raw bytes (grpc::ByteBuffer) instead of letting gRPC parse.
//
// Note [Raw requests]: gRPC 1.51's callback API cannot report a request it
// fails to parse. For unary and server-streaming methods the handler
// (grpcpp/impl/codegen/server_callback_handlers.h) drops the
// deserialization status, never calls the servicer, and answers
// UNIMPLEMENTED with an empty message, so a client thinks the method does
// not exist; for a client stream, a message that does not parse ends the
// reads like a half-close (OnReadDone(false)). And proto3 `string` fields
// fail to parse when they hold invalid UTF-8 (bytes like ff fe, or a lone
// surrogate ed a0 80), so one bad prompt byte takes that path. A custom
// grpc::SerializationTraits cannot help (the status is dropped anyway, and
// specializing it for a generated message would clash with the generated
// stub's instantiation). So the servicers register the generated *raw*
// callback methods (same method names and wire format: clients, the proto
// and reflection see no difference) and parse here, where a failure becomes
// INVALID_ARGUMENT saying what was wrong: "request is not a valid
// loraplex.v1.GenerateRequest: field text is not valid UTF-8" (the field's
// path, never its bytes), or "...: it is not a protobuf message of that
// type".
#ifndef LORAPLEX_SERVICE_GRPC_RAW_MESSAGES_H_
#define LORAPLEX_SERVICE_GRPC_RAW_MESSAGES_H_

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace loraplex::service {

// Parses `buffer` (left as it is) into `message`; INVALID_ARGUMENT as in
// Note [Raw requests]. Thread-safe.
absl::Status ParseRequest(const grpc::ByteBuffer& buffer,
                          google::protobuf::Message* message);

// Serializes `message` into `buffer` (replacing its contents). INTERNAL if
// protobuf cannot (a message over 2 GiB).
absl::Status SerializeReply(const google::protobuf::Message& message,
                            grpc::ByteBuffer* buffer);

// Protobuf logs an ERROR line for every string field with invalid UTF-8 it
// refuses to parse; ParseRequest answers the client instead, so that line
// only lets a client flood the server's log. Installs (once, process-wide)
// a protobuf log handler that drops exactly those lines and passes every
// other line to the handler it replaces.
void DropProtobufUtf8ParseErrorLogs();

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_GRPC_RAW_MESSAGES_H_

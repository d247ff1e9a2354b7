#include "service/grpc/raw_messages.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/stubs/logging.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::DescriptorProto;
using google::protobuf::DynamicMessageFactory;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using google::protobuf::Reflection;

void StringFieldsToBytes(DescriptorProto* message) {
  for (FieldDescriptorProto& field : *message->mutable_field()) {
    if (field.type() == FieldDescriptorProto::TYPE_STRING) {
      field.set_type(FieldDescriptorProto::TYPE_BYTES);
    }
  }
  for (DescriptorProto& nested : *message->mutable_nested_type()) {
    StringFieldsToBytes(&nested);
  }
}

// For each message type, a "twin" with the same full name, fields and
// numbers, except that every `string` field is `bytes`: the same wire
// format, parsed without the UTF-8 check. Built on first use in a pool of
// its own; process-wide.
class TwinMessages {
 public:
  static TwinMessages& Get() {
    static TwinMessages* const twins = new TwinMessages();
    return *twins;
  }

  // A new, empty twin of `descriptor`'s type (owned by the caller), or
  // nullptr if it cannot be built.
  std::unique_ptr<Message> New(const Descriptor* descriptor)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!AddFileLocked(descriptor->file())) return nullptr;
    const Descriptor* twin =
        pool_.FindMessageTypeByName(descriptor->full_name());
    if (twin == nullptr) return nullptr;
    const Message* prototype = factory_.GetPrototype(twin);
    return prototype == nullptr ? nullptr
                                : std::unique_ptr<Message>(prototype->New());
  }

 private:
  TwinMessages() : factory_(&pool_) {}

  bool AddFileLocked(const FileDescriptor* file)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (added_.count(file->name()) != 0) return true;
    for (int i = 0; i < file->dependency_count(); ++i) {
      if (!AddFileLocked(file->dependency(i))) return false;
    }
    FileDescriptorProto proto;
    file->CopyTo(&proto);
    for (DescriptorProto& message : *proto.mutable_message_type()) {
      StringFieldsToBytes(&message);
    }
    if (pool_.BuildFile(proto) == nullptr) return false;
    added_.insert(file->name());
    return true;
  }

  absl::Mutex mu_;
  DescriptorPool pool_ ABSL_GUARDED_BY(mu_);
  DynamicMessageFactory factory_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> added_ ABSL_GUARDED_BY(mu_);
};

std::string Indexed(const std::string& path, int index) {
  return absl::StrCat(path, "[", index, "]");
}

// The path of the first field that is a string in `type` (the generated
// message) and holds invalid UTF-8 in `twin` (its parsed twin).
std::optional<std::string> FindInvalidUtf8(const Descriptor* type,
                                           const Message& twin,
                                           const std::string& prefix) {
  const Reflection* reflection = twin.GetReflection();
  const Descriptor* twin_type = twin.GetDescriptor();
  std::string scratch;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const FieldDescriptor* twin_field =
        twin_type->FindFieldByNumber(field->number());
    if (twin_field == nullptr) continue;
    const std::string path = prefix.empty()
                                 ? field->name()
                                 : absl::StrCat(prefix, ".", field->name());
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(twin, twin_field); ++j) {
          if (!IsValidUtf8(reflection->GetRepeatedStringReference(
                  twin, twin_field, j, &scratch))) {
            return Indexed(path, j);
          }
        }
      } else if (!IsValidUtf8(reflection->GetStringReference(twin, twin_field,
                                                             &scratch))) {
        return path;
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(twin, twin_field); ++j) {
          std::optional<std::string> found = FindInvalidUtf8(
              field->message_type(),
              reflection->GetRepeatedMessage(twin, twin_field, j),
              Indexed(path, j));
          if (found.has_value()) return found;
        }
      } else if (reflection->HasField(twin, twin_field)) {
        std::optional<std::string> found =
            FindInvalidUtf8(field->message_type(),
                            reflection->GetMessage(twin, twin_field), path);
        if (found.has_value()) return found;
      }
    }
  }
  return std::nullopt;
}

bool ParseFrom(const grpc::ByteBuffer& buffer, Message* message) {
  if (!buffer.Valid()) {  // No payload at all: the empty message.
    message->Clear();
    return true;
  }
  grpc::ByteBuffer copy(buffer);  // Shares the slices; the reader needs
                                  // a mutable buffer.
  grpc::ProtoBufferReader reader(&copy);
  return reader.status().ok() && message->ParseFromZeroCopyStream(&reader);
}

// Why `buffer` does not parse as `type`.
absl::Status ExplainParseFailure(const grpc::ByteBuffer& buffer,
                                 const Descriptor* type) {
  const std::string what =
      absl::StrCat("request is not a valid ", type->full_name());
  std::unique_ptr<Message> twin = TwinMessages::Get().New(type);
  if (twin == nullptr || !ParseFrom(buffer, twin.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": it is not a protobuf message of that type"));
  }
  std::optional<std::string> field = FindInvalidUtf8(type, *twin, "");
  if (field.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": field ", *field, " is not valid UTF-8"));
  }
  return absl::InvalidArgumentError(what);
}

constexpr char kUtf8ParseErrorLog[] =
    "contains invalid UTF-8 data when parsing a protocol buffer";

google::protobuf::LogHandler* previous_log_handler = nullptr;

void FilteringLogHandler(google::protobuf::LogLevel level, const char* filename,
                         int line, const std::string& message) {
  if (absl::StrContains(message, kUtf8ParseErrorLog)) return;
  if (previous_log_handler != nullptr) {
    previous_log_handler(level, filename, line, message);
  }
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, Message* message) {
  if (ParseFrom(buffer, message)) return absl::OkStatus();
  return ExplainParseFailure(buffer, message->GetDescriptor());
}

absl::Status SerializeReply(const Message& message, grpc::ByteBuffer* buffer) {
  buffer->Clear();  // The writer appends to an empty buffer only.
  bool own_buffer = false;
  const grpc::Status status =
      grpc::GenericSerialize<grpc::ProtoBufferWriter, Message>(message, buffer,
                                                               &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot serialize the reply: ", status.error_message()));
  }
  return absl::OkStatus();
}

void DropProtobufUtf8ParseErrorLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    previous_log_handler =
        google::protobuf::SetLogHandler(&FilteringLogHandler);
  });
}

}  // namespace loraplex::service

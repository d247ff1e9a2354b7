#include "engine/chat_template/loop_object.h"

#include "absl/strings/str_cat.h"

namespace loraplex::chat {
namespace {

// loop.cycle(a, b, ...): the argument at index0 modulo their count.
class CycleFunction : public Object {
 public:
  explicit CycleFunction(size_t index) : index_(index) {}
  std::string TypeName() const override { return "method"; }
  bool callable() const override { return true; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override {
    if (args.positional.empty()) {
      return RenderError(args.line, "no items for cycling given");
    }
    return args.positional[index_ % args.positional.size()];
  }

 private:
  size_t index_;
};

}  // namespace

std::string LoopObject::Repr() const {
  return absl::StrCat("<LoopContext ", index_ + 1, "/", items_->size(), ">");
}

Value LoopObject::GetAttr(const std::string& name) const {
  const auto length = static_cast<int64_t>(items_->size());
  const auto index0 = static_cast<int64_t>(index_);
  if (name == "index") return Value::Int(index0 + 1);
  if (name == "index0") return Value::Int(index0);
  if (name == "revindex") return Value::Int(length - index0);
  if (name == "revindex0") return Value::Int(length - index0 - 1);
  if (name == "first") return Value::Bool(index0 == 0);
  if (name == "last") return Value::Bool(index0 == length - 1);
  if (name == "length") return Value::Int(length);
  if (name == "depth") return Value::Int(1);
  if (name == "depth0") return Value::Int(0);
  if (name == "previtem") {
    return index0 > 0 ? (*items_)[index_ - 1]
                      : Value::Undefined("there is no previous item");
  }
  if (name == "nextitem") {
    return index0 + 1 < length ? (*items_)[index_ + 1]
                               : Value::Undefined("there is no next item");
  }
  if (name == "cycle") {
    return Value::MakeObject(std::make_shared<CycleFunction>(index_));
  }
  return Value::Undefined(
      absl::StrCat("'LoopContext object' has no attribute '", name, "'"));
}

}  // namespace loraplex::chat

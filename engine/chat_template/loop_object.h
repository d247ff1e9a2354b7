// The `loop` variable of a for loop (Jinja's LoopContext): index, index0,
// revindex, revindex0, first, last, length, previtem, nextitem, depth,
// depth0 and cycle(...). One object per loop, advanced by the renderer.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_LOOP_OBJECT_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_LOOP_OBJECT_H_

#include <memory>
#include <string>

#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value.h"

namespace loraplex::chat {

class LoopObject : public Object {
 public:
  explicit LoopObject(std::shared_ptr<const ValueList> items)
      : items_(std::move(items)) {}

  const ValueList& items() const { return *items_; }
  void set_index(size_t index) { index_ = index; }

  std::string TypeName() const override { return "LoopContext"; }
  std::string Repr() const override;
  Value GetAttr(const std::string& name) const override;

 private:
  std::shared_ptr<const ValueList> items_;
  size_t index_ = 0;
};

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_LOOP_OBJECT_H_

// Internal: a submitted request's hold on one registration of an adapter.
#ifndef LORAPLEX_ENGINE_RUNTIME_ADAPTER_USE_H_
#define LORAPLEX_ENGINE_RUNTIME_ADAPTER_USE_H_

#include <cstdint>

namespace loraplex::engine {

class AdapterCache;

// Keeps one registration (adapter id + generation + directory) of an adapter
// alive in the AdapterCache while a request that was submitted with it has
// not finished, even if the id is unregistered or registered again
// meanwhile. Move-only; the hold ends when the object dies (any thread).
// Empty (held() == false) for base-model requests. See Note [Adapter
// lifetime] in adapter_cache.h.
class AdapterUse {
 public:
  AdapterUse() = default;
  AdapterUse(AdapterUse&& other) noexcept
      : cache_(other.cache_), generation_(other.generation_) {
    other.cache_ = nullptr;
  }
  AdapterUse& operator=(AdapterUse&& other) noexcept;
  AdapterUse(const AdapterUse&) = delete;
  AdapterUse& operator=(const AdapterUse&) = delete;
  ~AdapterUse();

  bool held() const { return cache_ != nullptr; }
  // Unique per registration, across ids.
  uint64_t generation() const { return generation_; }

 private:
  friend class AdapterCache;
  AdapterUse(AdapterCache* cache, uint64_t generation)
      : cache_(cache), generation_(generation) {}
  void Reset();

  AdapterCache* cache_ = nullptr;
  uint64_t generation_ = 0;
};

}  // namespace loraplex::engine

#endif  // LORAPLEX_ENGINE_RUNTIME_ADAPTER_USE_H_

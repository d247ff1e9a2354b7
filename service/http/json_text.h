// JSON text for HTTP answers. Never throws: strings that are not valid
// UTF-8 (bytes a client sent, a token that is part of a character) are
// written with U+FFFD in place of the bad bytes instead of making
// nlohmann::json::dump throw.
#ifndef LORAPLEX_SERVICE_HTTP_JSON_TEXT_H_
#define LORAPLEX_SERVICE_HTTP_JSON_TEXT_H_

#include <string>

#include "nlohmann/json.hpp"

namespace loraplex::service {

template <typename BasicJson>
std::string JsonText(const BasicJson& value) {
  return value.dump(/*indent=*/-1, /*indent_char=*/' ',
                    /*ensure_ascii=*/false,
                    nlohmann::json::error_handler_t::replace);
}

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_JSON_TEXT_H_

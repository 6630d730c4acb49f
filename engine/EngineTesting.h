// Test-only hooks into the engine (not for the UI or the CLI): lets a test act at a
// known point of a request, e.g. raise an allocation failure or set the cancel flag when
// the image encoding starts, without exhausting the machine or racing the clock.
#pragma once

#include <functional>
#include <string_view>

namespace vqa::testhooks {

// Called on the engine's thread when a stage starts: "load" (Engine::load, once the load is
// planned, before the model is built from the weights), "encode", "prefill", "decode" (once, before the first decoding
// step). Empty (the default) disables it. May throw.
using StageHook = std::function<void(std::string_view stage)>;
void setStageHook(StageHook hook);

} // namespace vqa::testhooks

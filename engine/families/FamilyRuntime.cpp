#include "engine/families/FamilyRuntime.h"

#include "models/base/Error.h"
#include "engine/families/Idefics3Runtime.h"
#include "engine/families/LlavaRuntime.h"

namespace vqa {

std::unique_ptr<FamilyRuntime> makeFamilyRuntime(const std::string& family, const FamilyLoadContext& context) {
    if (family == "idefics3")
        return std::make_unique<Idefics3Runtime>(context);
    if (family == "llava")
        return std::make_unique<LlavaRuntime>(context);
    throw Error(context.model_dir + ": the model family '" + family +
                "' is recognized but this build cannot run it yet; supported: idefics3, llava");
}

}  // namespace vqa

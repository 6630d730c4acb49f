// `vqa library search TEXT`, `vqa library captions IMAGE`, `vqa library conversations`: the
// library (engine/library/LibraryDb.h) from the command line.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "app/cli/Command.h"
#include "engine/library/LibraryDb.h"

namespace vqa::cli {
namespace {

using namespace vqa::library;

struct LibraryOptions {
    std::string library;
    std::string query;
    std::string image;
    int limit = 20;
    bool json = false;
};

std::unique_ptr<LibraryDb> openLibrary(const LibraryOptions& o) {
    auto db = std::make_unique<LibraryDb>(o.library.empty() ? defaultLibraryPath() : o.library);
    if (!db->notice().empty())
        std::cerr << "vqa: " << db->notice() << "\n";
    return db;
}

int runSearch(const LibraryOptions& o) {
    auto db = openLibrary(o);
    const auto hits = db->search(o.query, o.limit);
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& h : hits)
            out.push_back({{"kind", h.kind}, {"image", h.image_path}, {"conversation", h.conversation_id},
                           {"snippet", h.snippet}});
        std::cout << out.dump() << "\n";
        return 0;
    }
    if (hits.empty())
        std::cerr << "vqa: nothing in the library matches \"" << o.query << "\"\n";
    for (const auto& h : hits)
        std::cout << (h.image_path.empty() ? "(no image)" : h.image_path) << "\t" << h.kind << "\t" << h.snippet
                  << "\n";
    return 0;
}

int runCaptions(const LibraryOptions& o) {
    auto db = openLibrary(o);
    const auto image = db->image(std::filesystem::absolute(o.image).lexically_normal().string());
    nlohmann::json out = nlohmann::json::array();
    if (image)
        for (const auto& c : db->captionsOf(image->id))
            out.push_back({{"model", c.model}, {"prompt", c.prompt}, {"caption", c.text}, {"created_at", c.created_at}});
    if (o.json) {
        std::cout << out.dump() << "\n";
        return 0;
    }
    if (out.empty()) {
        std::cerr << "vqa: the library has no caption of " << o.image << "\n";
        return 1;
    }
    for (const auto& c : out)
        std::cout << c["model"].get<std::string>() << "\t" << c["caption"].get<std::string>() << "\n";
    return 0;
}

int runConversations(const LibraryOptions& o) {
    auto db = openLibrary(o);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : db->conversations())
        out.push_back({{"id", c.id}, {"title", c.title}, {"image", c.image_path}, {"model", c.model},
                       {"updated_at", c.updated_at}, {"messages", db->messages(c.id).size()}});
    if (o.json) {
        std::cout << out.dump() << "\n";
        return 0;
    }
    for (const auto& c : out)
        std::cout << c["id"].get<std::int64_t>() << "\t" << c["title"].get<std::string>() << "\t"
                  << c["image"].get<std::string>() << "\n";
    return 0;
}

template <typename Fn>
void guarded(int& exit_code, Fn fn) {
    try {
        exit_code = fn();
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        exit_code = 1;
    }
}

void setupLibrary(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<LibraryOptions>();
    auto* cmd = app.add_subcommand("library", "The library: captions and conversations kept on this machine");
    cmd->require_subcommand(1);
    cmd->add_option("--library", o->library, "The library database (default: the user's, in their data folder)");
    cmd->add_flag("--json", o->json, "Print JSON");

    auto* search = cmd->add_subcommand("search", "Find images by the words of their captions and conversations");
    search->add_option("text", o->query, "Words to look for (all of them; the last may be the start of a word)")
        ->required();
    search->add_option("--limit", o->limit, "At most this many results")->check(CLI::PositiveNumber);
    search->callback([o, &exit_code] { guarded(exit_code, [&] { return runSearch(*o); }); });

    auto* captions = cmd->add_subcommand("captions", "The captions the library keeps for an image");
    captions->add_option("image", o->image, "Image file")->required();
    captions->callback([o, &exit_code] { guarded(exit_code, [&] { return runCaptions(*o); }); });

    auto* conversations = cmd->add_subcommand("conversations", "The conversations kept, most recent first");
    conversations->callback([o, &exit_code] { guarded(exit_code, [&] { return runConversations(*o); }); });
    for (auto* sub : {search, captions, conversations})
        sub->fallthrough();  // --library and --json after the subcommand's name too
}

VQA_CLI_COMMAND("library", setupLibrary);

}  // namespace
}  // namespace vqa::cli

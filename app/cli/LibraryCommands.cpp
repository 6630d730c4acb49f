// `vqa library search TEXT`, `vqa library captions IMAGE`, `vqa library conversations`,
// `vqa library show ID`: the library (engine/library/LibraryDb.h) from the command line.
#include <filesystem>
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
    std::int64_t conversation = 0;
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

// One kept conversation: Markdown (a heading, the image, each turn), or JSON with --json.
int runShow(const LibraryOptions& o) {
    auto db = openLibrary(o);
    const auto c = db->conversation(o.conversation);
    if (!c) {
        std::cerr << "vqa: the library has no conversation " << o.conversation
                  << " (vqa library conversations lists them)\n";
        return 1;
    }
    const auto messages = db->messages(c->id);
    if (o.json) {
        nlohmann::json turns = nlohmann::json::array();
        for (const auto& m : messages)
            turns.push_back({{"role", m.role}, {"text", m.text}});
        std::cout << nlohmann::json{{"id", c->id},           {"title", c->title},
                                    {"image", c->image_path}, {"model", c->model},
                                    {"created_at", c->created_at}, {"updated_at", c->updated_at},
                                    {"messages", turns}}
                         .dump()
                  << "\n";
        return 0;
    }
    std::cout << "# " << c->title << "\n\n";
    if (!c->image_path.empty())
        std::cout << "![" << std::filesystem::path(c->image_path).filename().string() << "](" << c->image_path
                  << ")\n\n";
    if (!c->model.empty())
        std::cout << "*Model: " << c->model << "*\n\n";
    for (const auto& m : messages)
        std::cout << (m.role == "user" ? "**You:** " : "**Model:** ") << m.text << "\n\n";
    return 0;
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
    auto* show = cmd->add_subcommand("show", "One kept conversation, as Markdown (or JSON with --json)");
    show->add_option("id", o->conversation, "The conversation's id (vqa library conversations lists them)")
        ->required();
    show->callback([o, &exit_code] { guarded(exit_code, [&] { return runShow(*o); }); });
    for (auto* sub : {search, captions, conversations, show})
        sub->fallthrough();  // --library and --json after the subcommand's name too
}

VQA_CLI_COMMAND("library", setupLibrary);

}  // namespace
}  // namespace vqa::cli

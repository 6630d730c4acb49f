#include "engine/eval/EvalSet.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"

namespace vqa::eval {
namespace fs = std::filesystem;
using nlohmann::json;

const char* taskName(EvalTask task) { return task == EvalTask::Caption ? "caption" : "vqa"; }

namespace {

std::string fileName(const std::string& path) { return fs::path(path).filename().string(); }

json readJson(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(path + ": cannot be read");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw Error(path + ": not JSON (" + e.what() + ")");
    }
}

// An id (a number or a string) as text; throws naming `where` when it is neither.
std::string idText(const json& v, const std::string& where) {
    if (v.is_number_integer())
        return std::to_string(v.get<long long>());
    if (v.is_string() && !v.get<std::string>().empty())
        return v.get<std::string>();
    throw Error(where + " has no usable id (a number or a text), it has " + (v.is_null() ? "none" : v.dump()));
}

std::string text(const json& object, const char* key, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string())
        throw Error(where + " has no \"" + key + "\" text");
    return it->get<std::string>();
}

const json& array(const json& doc, const char* key, const std::string& path, const char* what) {
    if (!doc.is_object() || !doc.contains(key) || !doc[key].is_array())
        throw Error(path + ": not " + what + " (no \"" + key + "\" list)");
    return doc[key];
}

fs::path imagesFolder(const EvalSetOptions& options, const std::string& annotations) {
    fs::path folder = options.images.empty() ? fs::path(annotations).parent_path() : fs::path(options.images);
    std::error_code ec;
    folder = fs::absolute(folder, ec).lexically_normal();
    if (!fs::is_directory(folder, ec))
        throw Error("the images folder " + folder.string() + " does not exist");
    return folder;
}

// The item's file, or "" (with a note, under skip_missing) when there is none.
bool placeImage(EvalItem& item, const fs::path& file, const std::string& entry, const EvalSetOptions& options,
                EvalSet& set) {
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) {
        item.image = file.string();
        return true;
    }
    const std::string message = entry + ": its image " + file.string() + " does not exist";
    if (!options.skip_missing)
        throw Error(message + " (--skip-missing leaves such entries out)");
    set.notes.push_back(message + "; left out");
    return false;
}

// The image files of a folder by the number their name ends in: COCO_val2014_000000000042.jpg
// and 42.png are image 42.
std::map<std::string, fs::path> imagesById(const fs::path& folder) {
    std::map<std::string, fs::path> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        if (!entry.is_regular_file(ec))
            continue;
        const std::string stem = entry.path().stem().string();
        std::size_t start = stem.size();
        while (start > 0 && std::isdigit(static_cast<unsigned char>(stem[start - 1])))
            --start;
        if (start == stem.size())
            continue;
        std::size_t first = start;
        while (first + 1 < stem.size() && stem[first] == '0')
            ++first;
        found.emplace(stem.substr(first), entry.path());
    }
    return found;
}

void requireItems(const EvalSet& set, const std::string& path) {
    if (set.items.empty())
        throw Error(path + ": the set is empty: no entry could be evaluated" +
                    (set.notes.empty() ? std::string() : " (" + set.notes.front() + ")"));
}

} // namespace

EvalSet loadCocoCaptions(const std::string& annotations, const EvalSetOptions& options) {
    const json doc = readJson(annotations);
    const std::string name = fileName(annotations);
    const json& images = array(doc, "images", annotations, "COCO caption annotations");
    const json& captions = array(doc, "annotations", annotations, "COCO caption annotations");
    const fs::path folder = imagesFolder(options, annotations);

    EvalSet set;
    set.task = EvalTask::Caption;
    set.source = annotations;
    std::map<std::string, std::size_t> by_id;  // image id -> its place in `order`
    std::vector<EvalItem> order;
    std::vector<std::string> where;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::string entry = name + ": images[" + std::to_string(i) + "]";
        const json& image = images[i];
        if (!image.is_object())
            throw Error(entry + " is not an object");
        EvalItem item;
        item.id = idText(image.value("id", json()), entry);
        if (!by_id.emplace(item.id, order.size()).second)
            throw Error(entry + ": image id " + item.id + " appears twice");
        item.image = text(image, "file_name", entry);
        order.push_back(std::move(item));
        where.push_back(entry);
    }
    std::set<std::string> caption_ids;
    for (std::size_t i = 0; i < captions.size(); ++i) {
        const std::string entry = name + ": annotations[" + std::to_string(i) + "]";
        const json& caption = captions[i];
        if (!caption.is_object())
            throw Error(entry + " is not an object");
        if (caption.contains("id")) {
            const std::string id = idText(caption["id"], entry);
            if (!caption_ids.insert(id).second)
                throw Error(entry + ": annotation id " + id + " appears twice");
        }
        const std::string image_id = idText(caption.value("image_id", json()), entry);
        const auto it = by_id.find(image_id);
        if (it == by_id.end())
            throw Error(entry + ": image_id " + image_id + " is not among the file's images");
        order[it->second].references.push_back(text(caption, "caption", entry));
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
        EvalItem& item = order[i];
        if (item.references.empty()) {
            set.notes.push_back(where[i] + ": image " + item.id + " has no captions to score against; left out");
            continue;
        }
        if (placeImage(item, folder / item.image, where[i], options, set))
            set.items.push_back(std::move(item));
    }
    requireItems(set, annotations);
    return set;
}

EvalSet loadVqaV2(const std::string& questions_path, const std::string& annotations_path,
                  const EvalSetOptions& options) {
    const json questions_doc = readJson(questions_path);
    const json annotations_doc = readJson(annotations_path);
    const json& questions = array(questions_doc, "questions", questions_path, "VQAv2 questions");
    const json& annotations = array(annotations_doc, "annotations", annotations_path, "VQAv2 annotations");
    const std::string qname = fileName(questions_path), aname = fileName(annotations_path);
    const fs::path folder = imagesFolder(options, questions_path);
    const auto files = imagesById(folder);

    // The answers, by question id.
    struct Answers {
        std::vector<std::string> answers;
        std::string answer_type, question_type, image_id;
        bool used = false;
    };
    std::map<std::string, Answers> by_question;
    for (std::size_t i = 0; i < annotations.size(); ++i) {
        const std::string entry = aname + ": annotations[" + std::to_string(i) + "]";
        const json& a = annotations[i];
        if (!a.is_object())
            throw Error(entry + " is not an object");
        const std::string qid = idText(a.value("question_id", json()), entry);
        Answers answers;
        if (!a.contains("answers") || !a["answers"].is_array() || a["answers"].empty())
            throw Error(entry + " (question " + qid + ") has no \"answers\" list");
        for (std::size_t k = 0; k < a["answers"].size(); ++k)
            answers.answers.push_back(
                text(a["answers"][k], "answer", entry + ".answers[" + std::to_string(k) + "]"));
        answers.answer_type = a.value("answer_type", std::string("unknown"));
        answers.question_type = a.value("question_type", std::string("unknown"));
        if (a.contains("image_id"))
            answers.image_id = idText(a["image_id"], entry);
        if (!by_question.emplace(qid, std::move(answers)).second)
            throw Error(entry + ": question id " + qid + " appears twice");
    }

    EvalSet set;
    set.task = EvalTask::Vqa;
    set.source = questions_path + " + " + annotations_path;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < questions.size(); ++i) {
        const std::string entry = qname + ": questions[" + std::to_string(i) + "]";
        const json& q = questions[i];
        if (!q.is_object())
            throw Error(entry + " is not an object");
        EvalItem item;
        item.id = idText(q.value("question_id", json()), entry);
        if (!seen.insert(item.id).second)
            throw Error(entry + ": question id " + item.id + " appears twice");
        item.question = text(q, "question", entry);
        const std::string image_id = idText(q.value("image_id", json()), entry);
        const auto answers = by_question.find(item.id);
        if (answers == by_question.end())
            throw Error(entry + ": question " + item.id + " has no entry in " + aname);
        if (!answers->second.image_id.empty() && answers->second.image_id != image_id)
            throw Error(entry + ": question " + item.id + " is about image " + image_id + " but " + aname +
                        " says image " + answers->second.image_id);
        answers->second.used = true;
        item.references = answers->second.answers;
        item.answer_type = answers->second.answer_type;
        item.question_type = answers->second.question_type;
        const auto file = files.find(image_id);
        if (file == files.end()) {
            const std::string message =
                entry + ": image " + image_id + " has no file in " + folder.string() + " (a name ending in its id)";
            if (!options.skip_missing)
                throw Error(message + " (--skip-missing leaves such entries out)");
            set.notes.push_back(message + "; left out");
            continue;
        }
        item.image = file->second.string();
        set.items.push_back(std::move(item));
    }
    for (const auto& [qid, answers] : by_question)
        if (!answers.used)
            set.notes.push_back(aname + ": question " + qid + " has answers but no question in " + qname +
                                "; left out");
    requireItems(set, questions_path);
    return set;
}

EvalSet loadVqaJsonl(const std::string& path, const EvalSetOptions& options) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(path + ": cannot be read");
    const std::string name = fileName(path);
    const fs::path folder = imagesFolder(options, path);
    EvalSet set;
    set.task = EvalTask::Vqa;
    set.source = path;
    std::set<std::string> seen;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const std::string entry = name + ": line " + std::to_string(number);
        json q;
        try {
            q = json::parse(line);
        } catch (const json::exception& e) {
            throw Error(entry + " is not JSON (" + e.what() + ")");
        }
        if (!q.is_object())
            throw Error(entry + " is not a JSON object");
        EvalItem item;
        item.id = q.contains("id") ? idText(q["id"], entry) : std::to_string(number);
        if (!seen.insert(item.id).second)
            throw Error(entry + ": id " + item.id + " appears twice");
        item.question = text(q, "question", entry);
        if (!q.contains("answers") || !q["answers"].is_array() || q["answers"].empty())
            throw Error(entry + " has no \"answers\" list");
        for (const json& a : q["answers"]) {
            if (!a.is_string())
                throw Error(entry + ": an answer is not a text: " + a.dump());
            item.references.push_back(a.get<std::string>());
        }
        item.answer_type = q.value("answer_type", std::string("unknown"));
        item.question_type = q.value("question_type", std::string("unknown"));
        const fs::path image = fs::path(text(q, "image", entry));
        if (placeImage(item, image.is_absolute() ? image : folder / image, entry, options, set))
            set.items.push_back(std::move(item));
    }
    requireItems(set, path);
    return set;
}

EvalSet loadEvalSet(const EvalSetFiles& files) {
    if (files.annotations.empty())
        throw Error(files.task == EvalTask::Caption
                        ? "choose the caption annotations (COCO format)"
                        : "choose the VQAv2 annotations and questions, or a .jsonl set of questions");
    if (files.task == EvalTask::Caption)
        return loadCocoCaptions(files.annotations, files.options);
    if (!files.questions.empty())
        return loadVqaV2(files.questions, files.annotations, files.options);
    if (fs::path(files.annotations).extension() == ".jsonl")
        return loadVqaJsonl(files.annotations, files.options);
    throw Error(fileName(files.annotations) +
                ": VQAv2 annotations need their questions file beside them; a set of your own is a .jsonl file of "
                "{\"image\", \"question\", \"answers\"} lines");
}

} // namespace vqa::eval

#include "engine/eval/EvalReport.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <set>
#include <sstream>

#include "engine/eval/CaptionMetrics.h"
#include "engine/eval/CocoTokenizer.h"
#include "engine/eval/VqaAccuracy.h"
#include "engine/io/AtomicFile.h"
#include "models/base/Error.h"

namespace vqa::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::map<std::string, double> meanScores(const std::vector<const ScoredItem*>& items) {
    std::map<std::string, double> sum;
    for (const ScoredItem* s : items)
        for (const auto& [name, v] : s->scores)
            sum[name] += v;
    for (auto& [name, v] : sum)
        v /= static_cast<double>(items.size());
    return sum;
}

std::string escapeHtml(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string number(double v, int digits = 4) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << v;
    return s.str();
}

json readJsonFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(path.parent_path().string() + " holds no evaluation report (no " + path.filename().string() + ")");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw Error(path.string() + ": not JSON (" + e.what() + ")");
    }
}

} // namespace

EvalMetrics scorePredictions(const EvalSet& set, const std::map<std::string, Prediction>& predictions) {
    EvalMetrics m;
    m.task = set.task;
    m.primary = set.task == EvalTask::Caption ? "CIDEr-D" : "accuracy";
    for (const EvalItem& item : set.items) {
        const auto p = predictions.find(item.id);
        if (p == predictions.end())
            continue;
        ScoredItem s;
        s.item = &item;
        s.prediction = p->second.text;
        m.items.push_back(std::move(s));
    }
    if (m.items.empty())
        return m;
    if (set.task == EvalTask::Caption) {
        // Tokenized as the COCO evaluation does: the references as one file, the predictions as
        // another, in the set's order (the tokenizer reads a little past each line's end).
        std::vector<std::string> references, candidates;
        for (const ScoredItem& s : m.items) {
            references.insert(references.end(), s.item->references.begin(), s.item->references.end());
            candidates.push_back(s.prediction);
        }
        const std::vector<std::string> tokenized_references = cocoTokenizeLines(references);
        const std::vector<std::string> tokenized_candidates = cocoTokenizeLines(candidates);
        std::vector<CaptionCase> cases;
        std::size_t next = 0;
        for (std::size_t i = 0; i < m.items.size(); ++i) {
            CaptionCase c;
            for (std::size_t r = 0; r < m.items[i].item->references.size(); ++r)
                c.references.push_back(tokenized_references[next++]);
            c.candidate = tokenized_candidates[i];
            cases.push_back(std::move(c));
        }
        const CaptionEvaluation e = scoreCaptions(cases);
        for (std::size_t i = 0; i < m.items.size(); ++i)
            for (std::size_t k = 0; k < kCaptionMetricNames.size(); ++k)
                m.items[i].scores[kCaptionMetricNames[k]] = captionMetric(e.per_item[i], k);
        for (std::size_t k = 0; k < kCaptionMetricNames.size(); ++k)
            m.overall[kCaptionMetricNames[k]] = captionMetric(e.corpus, k);
        return m;
    }
    std::map<std::string, std::vector<const ScoredItem*>> by_answer, by_question;
    std::vector<const ScoredItem*> all;
    for (ScoredItem& s : m.items) {
        s.scores["accuracy"] = 100.0 * scoreVqaAnswer(s.prediction, s.item->references).accuracy;
        all.push_back(&s);
        by_answer[s.item->answer_type].push_back(&s);
        by_question[s.item->question_type].push_back(&s);
    }
    m.overall = meanScores(all);
    for (const auto& [type, items] : by_answer)
        m.by_answer_type[type] = meanScores(items);
    for (const auto& [type, items] : by_question)
        m.by_question_type[type] = meanScores(items);
    return m;
}

std::vector<std::size_t> exampleItems(const EvalMetrics& metrics, int count) {
    std::vector<std::size_t> order(metrics.items.size());
    std::iota(order.begin(), order.end(), 0);
    auto score = [&](std::size_t i) { return metrics.items[i].scores.at(metrics.primary); };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score(a) > score(b); });
    std::vector<std::size_t> out;
    const auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max(count, 0)), order.size());
    out.insert(out.end(), order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
    for (std::size_t k = 0; k < n && out.size() < order.size(); ++k) {
        const std::size_t worst = order[order.size() - 1 - k];
        if (std::find(out.begin(), out.end(), worst) == out.end())
            out.push_back(worst);
    }
    return out;
}

json metricsJson(const EvalMetrics& metrics, const ReportInfo& info) {
    json j;
    j["task"] = taskName(metrics.task);
    j["model"] = info.model;
    j["prompt"] = info.prompt;
    j["created"] = info.created;
    j["items"] = metrics.items.size();
    j["asked"] = info.total;
    j["failed"] = info.failed;
    j["metrics"] = metrics.overall;
    if (metrics.task == EvalTask::Vqa) {
        json a = json::object(), q = json::object();
        for (const auto& [type, scores] : metrics.by_answer_type)
            a[type] = scores.at("accuracy");
        for (const auto& [type, scores] : metrics.by_question_type)
            q[type] = scores.at("accuracy");
        j["by_answer_type"] = a;
        j["by_question_type"] = q;
    }
    j["notes"] = info.notes;
    return j;
}

std::string predictionsJsonl(const EvalMetrics& metrics) {
    std::string out;
    for (const ScoredItem& s : metrics.items) {
        json j;
        j["id"] = s.item->id;
        j["image"] = s.item->image;
        if (metrics.task == EvalTask::Vqa) {
            j["question"] = s.item->question;
            j["answer_type"] = s.item->answer_type;
            j["question_type"] = s.item->question_type;
        }
        j["prediction"] = s.prediction;
        j["references"] = s.item->references;
        j["scores"] = s.scores;
        out += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    }
    return out;
}

std::string reportHtml(const EvalMetrics& m, const ReportInfo& info, const std::vector<std::size_t>& examples) {
    std::ostringstream h;
    const bool vqa = m.task == EvalTask::Vqa;
    h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Evaluation: " << escapeHtml(info.model)
      << "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
         "th{background:#f3f3f3}.n{text-align:right;font-variant-numeric:tabular-nums}"
         ".ex{display:flex;gap:12px;margin:1em 0;border-top:1px solid #ddd;padding-top:1em}"
         ".ex img{max-width:300px;max-height:300px}.refs{color:#555;font-size:90%}</style></head><body>\n";
    h << "<h1>" << (vqa ? "VQA" : "Caption") << " evaluation</h1>\n<table>"
      << "<tr><th>model</th><td>" << escapeHtml(info.model) << "</td></tr>"
      << "<tr><th>prompt</th><td><code>" << escapeHtml(info.prompt) << "</code></td></tr>"
      << "<tr><th>items scored</th><td>" << m.items.size() << " of " << info.total
      << (info.failed ? " (" + std::to_string(info.failed) + " failed)" : std::string()) << "</td></tr>"
      << "<tr><th>created</th><td>" << escapeHtml(info.created) << "</td></tr></table>\n";
    h << "<h2>Scores</h2>\n<table><tr>";
    for (const auto& [name, v] : m.overall)
        h << "<th>" << escapeHtml(name) << "</th>";
    h << "</tr><tr>";
    for (const auto& [name, v] : m.overall)
        h << "<td class=\"n\">" << number(v, vqa ? 2 : 4) << "</td>";
    h << "</tr></table>\n";
    if (!vqa)
        h << "<p>BLEU-n over the whole set, ROUGE-L and CIDEr-D the mean over the images, computed as the COCO "
             "caption evaluation computes them (its PTB tokenization, CIDEr-D with &sigma; = 6).</p>\n";
    auto breakdown = [&](const char* title, const std::map<std::string, std::map<std::string, double>>& by,
                         const std::map<std::string, std::size_t>& counts) {
        h << "<h2>" << title << "</h2>\n<table><tr><th>type</th><th>questions</th><th>accuracy</th></tr>";
        for (const auto& [type, scores] : by)
            h << "<tr><td>" << escapeHtml(type) << "</td><td class=\"n\">" << counts.at(type)
              << "</td><td class=\"n\">" << number(scores.at("accuracy"), 2) << "</td></tr>";
        h << "</table>\n";
    };
    if (vqa) {
        std::map<std::string, std::size_t> answer_counts, question_counts;
        for (const ScoredItem& s : m.items) {
            ++answer_counts[s.item->answer_type];
            ++question_counts[s.item->question_type];
        }
        h << "<p>VQA accuracy (percent): an answer counts by how many of the people asked gave it, after the "
             "VQAv2 evaluation's normalisation.</p>\n";
        breakdown("By answer type", m.by_answer_type, answer_counts);
        breakdown("By question type", m.by_question_type, question_counts);
    }
    const std::size_t best = std::min<std::size_t>(examples.size(), (examples.size() + 1) / 2);
    for (std::size_t k = 0; k < examples.size(); ++k) {
        if (k == 0)
            h << "<h2>Best examples (by " << escapeHtml(m.primary) << ")</h2>\n";
        if (k == best)
            h << "<h2>Worst examples (by " << escapeHtml(m.primary) << ")</h2>\n";
        const ScoredItem& s = m.items[examples[k]];
        h << "<div class=\"ex\">";
        if (!s.image_file.empty())
            h << "<img src=\"" << escapeHtml(s.image_file) << "\" alt=\"image\">";
        if (!s.heatmap_file.empty())
            h << "<img src=\"" << escapeHtml(s.heatmap_file) << "\" alt=\"where the model looked\" "
              << "title=\"attention over the whole answer\">";
        h << "<div><b>" << escapeHtml(fs::path(s.item->image).filename().string()) << "</b> (id "
          << escapeHtml(s.item->id) << ")<br>";
        if (vqa)
            h << "Q: " << escapeHtml(s.item->question) << "<br>";
        h << "<b>" << escapeHtml(s.prediction.empty() ? "(empty)" : s.prediction) << "</b><br>";
        for (const auto& [name, v] : s.scores)
            h << escapeHtml(name) << " " << number(v, vqa ? 1 : 3) << "&nbsp; ";
        h << "<div class=\"refs\">" << (vqa ? "answers: " : "references:<br>");
        for (std::size_t r = 0; r < s.item->references.size(); ++r)
            h << (r && vqa ? ", " : "") << escapeHtml(s.item->references[r]) << (vqa ? "" : "<br>");
        h << "</div></div></div>\n";
    }
    if (!info.notes.empty()) {
        h << "<h2>Notes</h2>\n<ul>";
        for (const std::string& n : info.notes)
            h << "<li>" << escapeHtml(n) << "</li>";
        h << "</ul>\n";
    }
    h << "<p>Every item's prediction and scores: <a href=\"predictions.jsonl\">predictions.jsonl</a>; the "
         "scores: <a href=\"metrics.json\">metrics.json</a>.</p>\n</body></html>\n";
    return h.str();
}

void writeReport(const std::string& folder, const EvalMetrics& metrics, const ReportInfo& info,
                 const std::vector<std::size_t>& examples) {
    const fs::path dir(folder);
    writeFileAtomically((dir / "predictions.jsonl").string(), predictionsJsonl(metrics));
    writeFileAtomically((dir / "metrics.json").string(),
                        metricsJson(metrics, info).dump(1, ' ', false, json::error_handler_t::replace) + "\n");
    writeFileAtomically((dir / "index.html").string(), reportHtml(metrics, info, examples));
}

std::string compareReports(const std::string& a, const std::string& b, int count) {
    const json ma = readJsonFile(fs::path(a) / "metrics.json");
    const json mb = readJsonFile(fs::path(b) / "metrics.json");
    if (ma.value("task", "") != mb.value("task", ""))
        throw Error("the reports are of different tasks: " + ma.value("task", "?") + " in " + a + ", " +
                    mb.value("task", "?") + " in " + b);
    auto items = [](const std::string& folder) {
        std::map<std::string, json> out;
        std::ifstream in(fs::path(folder) / "predictions.jsonl", std::ios::binary);
        if (!in)
            throw Error(folder + " holds no evaluation report (no predictions.jsonl)");
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty())
                continue;
            try {
                json j = json::parse(line);
                const std::string id = j.at("id").get<std::string>();
                out[id] = std::move(j);
            } catch (const json::exception& e) {
                throw Error(folder + "/predictions.jsonl: a line is not a prediction (" + e.what() + ")");
            }
        }
        return out;
    };
    const auto ia = items(a), ib = items(b);
    const bool vqa = ma.value("task", "") == "vqa";
    const std::string primary = vqa ? "accuracy" : "CIDEr-D";
    std::ostringstream out;
    out << "A: " << a << " (" << ma.value("model", "") << ", " << ma.value("items", 0) << " items)\n"
        << "B: " << b << " (" << mb.value("model", "") << ", " << mb.value("items", 0) << " items)\n\n";
    out << std::left << std::setw(20) << "metric" << std::right << std::setw(12) << "A" << std::setw(12) << "B"
        << std::setw(12) << "B - A" << "\n";
    for (const auto& [name, v] : ma.at("metrics").items()) {
        const double va = v.get<double>();
        const bool in_b = mb.at("metrics").contains(name);
        const double vb = in_b ? mb["metrics"][name].get<double>() : NAN;
        out << std::left << std::setw(20) << name << std::right << std::setw(12) << number(va) << std::setw(12)
            << (in_b ? number(vb) : "-") << std::setw(12) << (in_b ? number(vb - va) : "-") << "\n";
    }
    for (const char* by : {"by_answer_type", "by_question_type"}) {
        if (!ma.contains(by) || !mb.contains(by))
            continue;
        out << "\n" << by << ":\n";
        for (const auto& [type, v] : ma[by].items())
            if (mb[by].contains(type))
                out << "  " << std::left << std::setw(28) << type << std::right << std::setw(10)
                    << number(v.get<double>(), 2) << std::setw(10) << number(mb[by][type].get<double>(), 2) << "\n";
    }
    struct Difference {
        double delta;
        std::string id;
    };
    std::vector<Difference> diffs;
    for (const auto& [id, ja] : ia) {
        const auto jb = ib.find(id);
        if (jb == ib.end())
            continue;
        const double sa = ja.at("scores").value(primary, 0.0), sb = jb->second.at("scores").value(primary, 0.0);
        diffs.push_back({sb - sa, id});
    }
    std::stable_sort(diffs.begin(), diffs.end(),
                     [](const Difference& x, const Difference& y) { return std::abs(x.delta) > std::abs(y.delta); });
    out << "\n" << diffs.size() << " items in both; where they disagree most (" << primary << "):\n";
    for (int k = 0; k < count && k < static_cast<int>(diffs.size()) && diffs[static_cast<std::size_t>(k)].delta != 0;
         ++k) {
        const Difference& d = diffs[static_cast<std::size_t>(k)];
        const json& ja = ia.at(d.id);
        const json& jb = ib.at(d.id);
        out << "\n  " << d.id << " (" << fs::path(ja.value("image", "")).filename().string() << ")"
            << (vqa ? "  Q: " + ja.value("question", "") : std::string()) << "\n"
            << "    A " << number(ja["scores"].value(primary, 0.0), 3) << ": " << ja.value("prediction", "") << "\n"
            << "    B " << number(jb["scores"].value(primary, 0.0), 3) << ": " << jb.value("prediction", "") << "\n";
    }
    return out.str();
}

} // namespace vqa::eval

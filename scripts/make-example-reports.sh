#!/usr/bin/env bash
# Regenerates the approved example reports in reports/ from reports/cases.txt.
# Run after a change to a renderer or a message, review `git diff reports/`, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
metaguard="${METAGUARD:-build/metaguard}"
declare -A extension=([text]=txt [json]=json [md]=md [html]=html [junit]=xml)
while read -r folder command; do
  [[ -z "$folder" || "$folder" == \#* ]] && continue
  mkdir -p "reports/$folder"
  for format in text json md html junit; do
    # Exit 1 (an error finding) is the point of the faulty examples.
    $metaguard $command --format "$format" --out "reports/$folder/report.${extension[$format]}" || [[ $? -eq 1 ]]
  done
  $metaguard explain "reports/$folder/report.json" > "reports/$folder/explain.txt" || [[ $? -eq 1 ]]
done < reports/cases.txt
echo "example reports regenerated; review with: git diff reports/"
